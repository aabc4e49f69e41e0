"""`oncoboard doctor`: tell hospital IT whether an installation is healthy.

Each check returns a :class:`Check` with a status: ``ok``, ``warn`` (works, with a limitation the
user should know, e.g. no GPU) or ``fail`` (something a user will trip on). The command exits 1
when any check fails, and ``--json`` prints the checks for IT tooling.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncoboard import __version__
from oncoboard.config import Settings

OK, WARN, FAIL = "ok", "warn", "fail"
PROBE_MODEL = Path(__file__).parent / "resources" / "probe.onnx"
_DISTRIBUTIONS = ("numpy", "pydicom", "imagecodecs", "pynetdicom", "onnxruntime",
                  "onnxruntime-gpu", "PySide6-Essentials", "pyqtgraph", "vtk", "sqlite-utils",
                  "fhir.resources", "pint", "pydantic", "reportlab", "cryptography")


@dataclass
class Check:
    """The outcome of one check."""

    name: str
    status: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


def check_versions(settings: Settings) -> Check:
    """Report the versions of Oncoboard, Python, SQLite and the main libraries."""
    import sqlite3

    versions = {"oncoboard": __version__, "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version, "platform": platform.platform()}
    for dist in _DISTRIBUTIONS:
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    both = "onnxruntime" in versions and "onnxruntime-gpu" in versions
    status = FAIL if both else OK
    detail = (f"oncoboard {__version__}, Python {versions['python']}, "
              f"SQLite {versions['sqlite']}")
    if both:
        detail += "; onnxruntime and onnxruntime-gpu are both installed: remove one"
    return Check("versions", status, detail, versions)


def check_data_dir(settings: Settings) -> Check:
    """Check that the data folder exists (or can be created) and is writable."""
    path = settings.data_dir
    data: dict[str, Any] = {"path": str(path), "settings_from": list(settings.sources)}
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-", delete=True):
            pass
    except OSError as exc:
        return Check("data folder", FAIL, f"{path} is not writable: {exc.strerror}", data)
    usage = os.statvfs(path)
    free_gb = usage.f_bavail * usage.f_frsize / 1e9
    data["free_gb"] = round(free_gb, 1)
    status = WARN if free_gb < 2 else OK
    return Check("data folder", status, f"{path} writable, {free_gb:.1f} GB free", data)


def check_permissions(settings: Settings) -> Check:
    """Check that the data folder and its patient files are readable by their owner only."""
    if os.name != "posix":
        return Check("file permissions", OK, "not checked on this system (use folder ACLs)")
    folder = settings.data_dir
    if not folder.exists():
        return Check("file permissions", OK, f"{folder} not created yet (created owner-only)")
    loose = []
    for path in [folder, *(folder / n for n in ("oncoboard.db", "oncoboard.db-wal", "logs")),
                 *(folder / "logs").glob("*.log*")]:
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            loose.append(f"{path.name or path} {mode:o}")
    if loose:
        return Check("file permissions", WARN,
                     f"readable by other users: {', '.join(loose[:5])} (run chmod -R go-rwx "
                     f"{folder})", {"loose": loose})
    return Check("file permissions", OK, f"{folder}: owner only")


def check_database(settings: Settings) -> Check:
    """Check the database's integrity and schema version against this version's migrations."""
    from oncoboard.database_url import describe, masked
    from oncoboard.store import open_store
    from oncoboard.store.db import discover_migrations

    target = settings.store_target
    expected = max(m.number for m in discover_migrations())
    if isinstance(target, str):  # a site database: named without user or password
        where = f"database server {describe(target)}"
        shown: dict[str, object] = {"url": masked(settings.database_url or target)}
    else:
        where, shown = str(target), {"path": str(target)}
    path = settings.db_path
    if not isinstance(target, str) and not path.exists():
        return Check("database", OK, f"{path} not created yet (created on first use)",
                     {"path": str(path), "expected_schema": expected})
    try:
        store = open_store(target, migrate=False)
        try:
            findings = store.integrity_check()
            version = store.schema_version()
            patients = (store.db["patients"].count
                        if "patients" in store.db.table_names() else 0)
        finally:
            store.close()
    except Exception as exc:  # any failure to read the file is the finding itself
        return Check("database", FAIL, f"{where} cannot be read: {exc}", shown)
    data = {**shown, "schema": version, "expected_schema": expected,
            "integrity": findings, "patients": patients}
    if findings != ["ok"]:
        return Check("database", FAIL, f"integrity check failed: {'; '.join(findings[:3])}", data)
    if version > expected:
        return Check("database", FAIL, f"schema {version} is newer than this version of "
                     f"Oncoboard understands ({expected}): upgrade Oncoboard", data)
    note = "" if version == expected else f" (will be migrated to {expected} on next use)"
    return Check("database", OK, f"integrity ok, schema {version}{note}, {patients} patients", data)


#: Clock difference between the workstation and the site database above which doctor warns
#: (audit entries and decisions carry the workstation's time, the change feed the server's).
CLOCK_SKEW_WARN_S = 5.0


def check_site_database(settings: Settings) -> list[Check]:
    """On a site database: the login, its roles and how it signed in, TLS, the clock difference.

    (The connection and the schema version are :func:`check_database`'s.) Nothing on SQLite.
    """
    import datetime as dt
    import time

    from oncoboard.database_url import describe
    from oncoboard.store import open_store

    target = settings.store_target
    if not isinstance(target, str):
        return []
    where = f"database server {describe(target)}"
    try:
        store = open_store(target, migrate=False)
    except Exception as exc:  # check_database reports the failure itself
        return [Check("site login", FAIL, f"{where}: {getattr(exc, 'message', exc)}")]
    try:
        user = store.user
        ssl_row = store.db.execute("SELECT ssl, version, cipher FROM pg_stat_ssl "
                                   "WHERE pid = pg_backend_pid()").fetchone()
        gss_row = store.db.execute("SELECT gss_authenticated, principal, encrypted "
                                   "FROM pg_stat_gssapi WHERE pid = pg_backend_pid()").fetchone()
        used_password = bool(store.db.raw.pgconn.used_password)  # type: ignore[attr-defined]
        before = time.time()
        server_now = store.db.execute("SELECT now()").fetchone()[0]
        after = time.time()
    finally:
        store.close()
    out = []
    roles = ", ".join(sorted(user.roles)) or "none"
    data: dict[str, Any] = {"login": user.login, "roles": sorted(user.roles)}
    if user.roles:
        out.append(Check("site login", OK, f"{user.login} on {where}, roles: {roles}", data))
    else:
        out.append(Check("site login", FAIL, f"{user.login} on {where} holds no Oncoboard role "
                         "(oncoboard_coordinator, _clinician, _radiologist, _admin): ask the "
                         "site's administrator", data))
    gss = bool(gss_row and gss_row[0])
    gss_encrypted = bool(gss_row and gss_row[2])
    out.append(_sign_in_check(settings, gss, gss_row[1] if gss else None, gss_encrypted,
                              used_password))
    if ssl_row and ssl_row[0]:
        verified = settings.database_ca is not None
        out.append(Check("site TLS", OK if verified else WARN,
                         f"TLS in use ({ssl_row[1]}, {ssl_row[2]})" + (
                             ", server certificate verified (verify-full)" if verified else
                             ", server certificate not verified: set [database] ca"),
                         {"ssl": True, "version": ssl_row[1], "verified": verified}))
    elif gss_encrypted:
        out.append(Check("site TLS", OK, "TLS not in use: the connection is encrypted by "
                         "GSSAPI (Kerberos), the server authenticated by its ticket",
                         {"ssl": False, "gss_encrypted": True}))
    else:
        out.append(Check("site TLS", WARN, f"TLS not in use to {where}: patient data crosses "
                         "the network unencrypted; set [database] ca (see packaging/site/)",
                         {"ssl": False}))
    if isinstance(server_now, dt.datetime):
        here = (before + after) / 2
        skew = server_now.timestamp() - here
        text = (f"server clock {abs(skew):.1f} s {'ahead of' if skew > 0 else 'behind'} "
                "this workstation")
        status = WARN if abs(skew) > CLOCK_SKEW_WARN_S else OK
        out.append(Check("site clock", status, text + (
            f" (over {CLOCK_SKEW_WARN_S:.0f} s: synchronise both with NTP; recorded times "
            "disagree)" if status == WARN else ""), {"skew_s": round(skew, 3)}))
    return out


def _sign_in_check(settings: Settings, gss: bool, principal: str | None, encrypted: bool,
                   used_password: bool) -> Check:
    """Say how the login signed in: Kerberos/GSSAPI (encrypted or not), a password, other."""
    data: dict[str, Any] = {"configured": settings.database_auth, "principal": principal,
                            "gss_encrypted": encrypted}
    if gss:
        how = ("encrypted by GSSAPI" if encrypted else
               "not encrypted by GSSAPI (TLS, when in use, encrypts it)")
        return Check("site sign-in", OK, f"Kerberos/GSSAPI as {principal}, no password; "
                     f"connection {how}", {**data, "method": "gssapi"})
    if used_password:
        status = WARN if settings.database_auth == "kerberos" else OK
        return Check("site sign-in", status, "password (OS keyring or pgpass file)" + (
            ": the site configuration says kerberos" if status == WARN else ""),
            {**data, "method": "password"})
    return Check("site sign-in", WARN, "neither Kerberos nor a password: the server trusts "
                 "this connection (trust, peer or certificate in pg_hba.conf)",
                 {**data, "method": "other"})


def _run_probe(provider: str) -> tuple[bool, str]:
    import numpy as np

    from oncoboard.inference.runtime import load_onnxruntime

    ort = load_onnxruntime()

    ort.set_default_logger_severity(4)  # the finding goes into the check, not onto the terminal
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(str(PROBE_MODEL), options, providers=[provider])
        used = session.get_providers()[0]
        out = session.run(None, {"x": np.zeros(4, dtype=np.float32)})[0]
    except Exception as exc:  # a provider failing to start is what we are looking for
        return False, f"{provider} failed: {exc}".splitlines()[0]
    if used != provider:
        hint = (" (CUDA/cuDNN libraries or the NVIDIA driver missing)"
                if provider.startswith(("CUDA", "TensorRT")) else "")
        return False, f"{provider} is listed but sessions fall back to {used}{hint}"
    if not np.array_equal(out, np.ones(4, dtype=np.float32)):
        return False, f"{provider} gave a wrong result"
    return True, f"{provider} runs"


def check_providers(settings: Settings) -> Check:
    """List onnxruntime's providers and run the probe model on each configured one."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = [p for p in settings.providers if p in available]
    results = {p: _run_probe(p) for p in wanted}
    working = [p for p, (ok, _) in results.items() if ok]
    data = {"available": available, "configured": list(settings.providers), "working": working,
            "details": {p: msg for p, (_, msg) in results.items()}, "device": ort.get_device()}
    if not working:
        return Check("inference providers", FAIL, "no configured provider runs: "
                     + "; ".join(msg for _, msg in results.values()), data)
    gpu_wanted = any(p.startswith(("CUDA", "TensorRT")) for p in settings.providers)
    gpu_ok = any(p.startswith(("CUDA", "TensorRT")) for p in working)
    detail = f"predictions run on {working[0]}"
    if gpu_wanted and not gpu_ok:
        failed = [msg for p, (ok, msg) in results.items() if not ok]
        why = failed[0] if failed else "no GPU build of onnxruntime or no GPU"
        return Check("inference providers", WARN, f"{detail} ({why}; CPU is used)", data)
    return Check("inference providers", OK, detail, data)


def _gl_probe_command(settings: Settings) -> list[str]:
    # The child logs into the same data folder (else it would write to the default one).
    tail = ["doctor", "--gl-probe", "--data-dir", str(settings.data_dir)]
    # A frozen bundle's executable is oncoboard itself, not a Python interpreter.
    if getattr(sys, "frozen", False):
        return [sys.executable, *tail]
    return [sys.executable, "-m", "oncoboard", *tail]


def check_opengl(settings: Settings) -> Check:
    """Render a tiny VTK scene off screen in a child process (a crash there cannot hurt us)."""
    try:
        proc = subprocess.run(_gl_probe_command(settings), capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("3D (OpenGL/VTK)", WARN, f"3D view unavailable: {exc}")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        return Check("3D (OpenGL/VTK)", WARN,
                     f"3D view unavailable ({last}); 2D viewing still works")
    renderer = proc.stdout.strip()
    return Check("3D (OpenGL/VTK)", OK, f"OpenGL renderer: {renderer}", {"renderer": renderer})


def check_plugins(settings: Settings) -> Check:
    """Check every plugin found (manifest, sha256, signature, graph, golden case)."""
    from oncoboard.inference.discovery import discover_plugins

    plugins = discover_plugins(settings)
    data = {"plugins": [p.to_dict() for p in plugins]}
    if not plugins:
        return Check("plugins", FAIL, "no plugin found (the bundled plugins are missing)", data)
    broken = [p for p in plugins if not p.enabled and not p.superseded]
    enabled = [p for p in plugins if p.enabled]
    detail = f"{len(enabled)} enabled: " + ", ".join(p.id for p in enabled)
    if broken:
        why = "; ".join(f"{p.id}: {p.problems[0] if p.problems else 'disabled'}" for p in broken)
        return Check("plugins", FAIL, f"{len(broken)} refused ({why}); {detail}", data)
    return Check("plugins", OK, detail, data)


def check_security(settings: Settings) -> Check:
    """Report the security settings the site locks and any attempt to change them."""
    locked = sorted(settings.locked)
    data = {"locked": locked, "refused": list(settings.refused),
            "signed_plugins_only": settings.signed_plugins_only,
            "trusted_keys": [str(k) for k in settings.trusted_keys]}
    if settings.refused:
        return Check("security settings", WARN, "; ".join(settings.refused), data)
    if not locked:
        return Check("security settings", OK, "none set by the site (no site configuration "
                                              "locks plugin trust or the audit anchor)", data)
    return Check("security settings", OK, "locked by the site: " + ", ".join(locked), data)


def check_pacs(settings: Settings) -> list[Check]:
    """Send a C-ECHO to each configured PACS node."""
    if not settings.pacs:
        return [Check("PACS", OK, "no PACS node configured")]
    from oncoboard.errors import PacsError
    from oncoboard.imaging.pacs import echo

    out = []
    for node in settings.pacs:
        where = f"{node.ae_title}@{node.host}:{node.port}"
        try:
            result = echo(node)
        except PacsError as exc:
            out.append(Check(f"PACS {node.name}", FAIL, exc.message, {"node": where}))
            continue
        ms = result.elapsed_s * 1000
        out.append(Check(f"PACS {node.name}", OK, f"C-ECHO to {where} answered in {ms:.0f} ms",
                         {"node": where, "ms": ms}))
    return out


CHECKS: list[Callable[[Settings], Check | list[Check]]] = [
    check_versions, check_data_dir, check_permissions, check_database, check_site_database,
    check_security,
    check_plugins,
    check_providers, check_opengl, check_pacs,
]


def run_checks(settings: Settings) -> list[Check]:
    """Run every check and return the results; a check that crashes is reported as failed."""
    results: list[Check] = []
    for check in CHECKS:
        try:
            out = check(settings)
        except Exception as exc:  # doctor must report, never crash
            name = check.__name__.removeprefix("check_").replace("_", " ")
            out = Check(name, FAIL, f"check crashed: {type(exc).__name__}: {exc}")
        results.extend(out if isinstance(out, list) else [out])
    return results
