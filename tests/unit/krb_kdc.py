"""A throwaway MIT Kerberos KDC for the tests: realm ONCOBOARD.TEST on 127.0.0.1, in a temp folder.

Everything lives in the folder: the krb5.conf (``KRB5_CONFIG``) and kdc.conf
(``KRB5_KDC_PROFILE``) written here, the principal database (``kdb5_util create -s`` with a
random master password), the stash, the logs, the keytabs and the replay cache of the service
accepting tickets (``KRB5RCACHEDIR``). Principals are made with ``kadmin.local`` (no kadmind, no
admin password). The KDC (``krb5kdc -n``) runs in the foreground of a child process, stopped at
the end; the folder is then removed. Needs Debian's krb5-kdc, krb5-admin-server (kadmin.local)
and krb5-user (kinit, klist).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from reaper import stop_when_orphaned

REALM = "ONCOBOARD.TEST"
#: The programs the fixture runs, and the Debian package of each.
PROGRAMS = {"krb5kdc": "krb5-kdc", "kdb5_util": "krb5-kdc", "kadmin.local": "krb5-admin-server",
            "kinit": "krb5-user", "kdestroy": "krb5-user"}


def find(program: str) -> str | None:
    """Return the path of a krb5 program (the daemons are in /usr/sbin, often not on PATH)."""
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin:/sbin")


def missing() -> list[str]:
    """Return the Debian packages to install for the programs not found (none: empty)."""
    return sorted({package for program, package in PROGRAMS.items() if find(program) is None})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Kdc:
    """A running KDC (see the module's description)."""

    base: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Return the environment variables that point krb5 (clients and services) here."""
        return {"KRB5_CONFIG": str(self.base / "krb5.conf"),
                "KRB5_KDC_PROFILE": str(self.base / "kdc.conf"),
                "KRB5RCACHEDIR": str(self.base / "rcache")}

    def _run(self, program: str, *args: str, stdin: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([find(program) or program, *args], input=stdin,
                              capture_output=True, text=True, check=True, timeout=30,
                              env={**os.environ, **self.env, **(env or {})})

    def add_principals(self, *names: str, keytab: Path | None = None) -> None:
        """Create principals with random keys; write their keys to `keytab` when given."""
        commands = [f"addprinc -randkey {n}" for n in names]
        if keytab is not None:
            commands += [f"ktadd -k {keytab} {n}" for n in names]
        done = self._run("kadmin.local", "-r", REALM, stdin="\n".join(commands) + "\n")
        said = (done.stdout + done.stderr).lower()
        if any(w in said for w in ("error", "does not exist", "not found", "cannot")):
            raise RuntimeError(f"kadmin.local: {done.stdout.strip()} {done.stderr.strip()}")

    def kinit(self, principal: str, keytab: Path, ccache: Path,
              lifetime: str | None = None) -> None:
        """Get a ticket-granting ticket for `principal` from `keytab` into the cache `ccache`,
        valid for `lifetime` (kinit's -l, e.g. ``"2s"``) when given, else the realm's maximum."""
        life = ["-l", lifetime] if lifetime else []
        self._run("kinit", "-k", "-t", str(keytab), "-c", f"FILE:{ccache}", *life, principal)

    def kdestroy(self, ccache: Path) -> None:
        """Remove the tickets of `ccache`."""
        self._run("kdestroy", "-q", "-c", f"FILE:{ccache}")


def _write_config(base: Path, port: int) -> None:
    logging = (f"[logging]\n kdc = FILE:{base}/kdc.log\n admin_server = FILE:{base}/kadmin.log\n"
               f" default = FILE:{base}/krb5.log\n")
    (base / "krb5.conf").write_text(
        f"[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n"
        " dns_lookup_realm = false\n dns_canonicalize_hostname = false\n rdns = false\n"
        " udp_preference_limit = 1\n"  # TCP: no lost datagrams on a busy test machine
        # one clock for the KDC, the server and the clients: a second of skew allowed (instead
        # of 5 minutes) lets a test see a ticket of a few seconds expire
        " clockskew = 1\n"
        f"[realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
        f"[domain_realm]\n localhost = {REALM}\n" + logging)
    (base / "kdc.conf").write_text(
        f"[kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n"
        f"[realms]\n {REALM} = {{\n  database_name = {base}/principal\n"
        f"  key_stash_file = {base}/stash\n  acl_file = {base}/kadm5.acl\n"
        "  supported_enctypes = aes256-cts-hmac-sha1-96:normal\n"
        "  max_life = 1h\n }\n" + logging)
    (base / "kadm5.acl").write_text("")
    for name in ("krb5.conf", "kdc.conf"):  # readable by a service running as another user,
        (base / name).chmod(0o644)         # whatever the umask (the CLI's is 077)


def start_kdc() -> Kdc:
    """Create the realm in a new temporary folder and start its KDC; raise RuntimeError if not."""
    if missing():
        raise RuntimeError(f"Kerberos is not installed: apt-get install {' '.join(missing())}")
    base = Path(tempfile.mkdtemp(prefix="oncoboard-kdc-"))
    (base / "rcache").mkdir()
    kdc = Kdc(base, _free_port())
    _write_config(base, kdc.port)
    kdc._run("kdb5_util", "create", "-s", "-r", REALM, "-P", secrets.token_hex(24))
    for attempt in range(3):
        log = (base / "krb5kdc.out").open("ab")
        kdc.process = subprocess.Popen(
            [find("krb5kdc") or "krb5kdc", "-n", "-r", REALM, "-P", str(base / "kdc.pid")],
            stdout=log, stderr=log, env={**os.environ, **kdc.env})
        log.close()
        if _wait_listening(kdc):
            stop_when_orphaned(pid=kdc.process.pid)  # a killed test run leaves no KDC behind
            return kdc
        kdc.process.kill()
        kdc.process.wait(timeout=10)
        if attempt == 2:
            break
        kdc.port = _free_port()  # taken meanwhile: another port
        _write_config(base, kdc.port)
    text = (base / "krb5kdc.out").read_text(errors="replace")[-500:]
    stop(kdc)
    raise RuntimeError(f"the test KDC did not start: {text}")


def _wait_listening(kdc: Kdc, timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if kdc.process is not None and kdc.process.poll() is not None:
            return False
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", kdc.port)) == 0:
                return True
        time.sleep(0.02)
    return False


def stop(kdc: Kdc) -> None:
    """Stop the KDC and delete its folder."""
    if kdc.process is not None and kdc.process.poll() is None:
        kdc.process.terminate()
        try:
            kdc.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kdc.process.kill()
            kdc.process.wait(timeout=10)
    shutil.rmtree(kdc.base, ignore_errors=True)
