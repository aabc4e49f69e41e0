"""Settings: where the data lives, PACS nodes, plugin folders, execution providers.

Settings are read, in increasing priority, from the built-in defaults, the site file set by
hospital IT (``/etc/oncoboard/config.toml``, or the file named by ``ONCOBOARD_SITE_CONFIG``), the
user file (``config.toml`` in the per-user config folder, or ``ONCOBOARD_USER_CONFIG``), environment
variables (``ONCOBOARD_HOME``, ``ONCOBOARD_PROVIDERS``, ``ONCOBOARD_PLUGIN_PATH``,
``ONCOBOARD_LANGUAGE``) and finally the command line (``--data-dir``).

Security settings (:data:`SECURITY_SETTINGS`: plugin trust, plugin folders, the audit anchor)
that the site file sets are locked: a user file or environment variable that would change them
is ignored, and the attempt is kept in ``Settings.refused`` (logged by the command line, shown by
``oncoboard doctor``). The one change allowed is a stricter one: ``signed_plugins_only = true``.
Setting ``extra_plugin_dirs`` in the site file (even to ``[]``) locks ``ONCOBOARD_PLUGIN_PATH``.

Example site file::

    data_dir = "/srv/oncoboard"
    language = "fr"
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    site_plugin_dir = "/opt/oncoboard-site/plugins"
    signed_plugins_only = true
    trusted_keys = ["/etc/oncoboard/keys/cancer-centre.pub"]
    extra_plugin_dirs = []                   # locks ONCOBOARD_PLUGIN_PATH
    audit_key_file = "/etc/oncoboard/audit.key"   # HMAC key of the audit checkpoints
    audit_checkpoint_file = "/mnt/audit-share/oncoboard-checkpoints.jsonl"
    audit_syslog = "/dev/log"                # or "host:port" (UDP)

    [dicom]
    patient_match = "patient_id"        # or "patient_id+birth_date"

    [viewer.hanging]                    # the prior put beside a study in the comparison view
    match = ["modality", "body_part"]   # what it must share (also: "description")
    max_age_days = 0                    # 0: any earlier study

    [[pacs]]
    name = "hospital-pacs"
    ae_title = "PACS"
    host = "10.1.2.3"
    port = 104
    calling_ae_title = "ONCOBOARD"

    [[pacs]]                            # a DICOMweb node (QIDO-RS, WADO-RS, STOW-RS)
    name = "hospital-web"
    dicomweb_url = "https://pacs.example.org/dicom-web"
    auth = "basic"                      # none | basic | bearer
    username = "oncoboard"              # basic only; the password is never in this file:
    secret_env = "ONCOBOARD_PACS_SECRET"  # OS keyring first, else this environment variable
    tls_ca_bundle = "/etc/oncoboard/hospital-ca.pem"   # or tls_verify = false (tests only)

    [fhir]                              # the FHIR server board export --send posts to
    base_url = "https://fhir.example.org/fhir"
    auth = "bearer"                     # none | basic | bearer; token from the OS keyring
    tls_ca_bundle = "/etc/oncoboard/hospital-ca.pem"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from oncoboard.errors import ConfigError
from oncoboard.nodes import FhirServer as FhirServer  # re-exported: read from the config
from oncoboard.nodes import PacsNode as PacsNode

SITE_CONFIG = Path("/etc/oncoboard/config.toml")
#: Settings a site file locks: user files and environment variables cannot change them.
SECURITY_SETTINGS = frozenset({
    "signed_plugins_only", "trusted_keys", "site_plugin_dir", "extra_plugin_dirs",
    "audit_key_file", "audit_keyring", "audit_checkpoint_file", "audit_syslog", "database_url",
    "database_auth"})
LANGUAGES = ("en", "fr")
#: How a workstation signs in to a site database: a password (OS keyring, pgpass) or Kerberos.
DATABASE_AUTH = ("password", "kerberos")
PATIENT_MATCH_RULES = ("patient_id", "patient_id+birth_date")
HANGING_MATCH_FIELDS = ("modality", "body_part", "description")  # = imaging.hanging.MATCH_FIELDS


PACS_AUTH = ("none", "basic", "bearer")
#: Keys that would put a secret into a configuration file: refused with a clear message.
_SECRET_KEYS = ("password", "token", "secret", "bearer_token", "api_key")


@dataclass(frozen=True)
class Settings:
    """Effective settings of one run of Oncoboard."""

    data_dir: Path
    language: str = "en"
    providers: tuple[str, ...] = ("CUDAExecutionProvider", "CPUExecutionProvider")
    site_plugin_dir: Path | None = None
    extra_plugin_dirs: tuple[Path, ...] = ()
    signed_plugins_only: bool = False
    trusted_keys: tuple[Path, ...] = ()
    patient_match: str = "patient_id"
    pacs: tuple[PacsNode, ...] = ()
    fhir: FhirServer | None = None              # [fhir]: where board export --send posts
    local_ae_title: str = "ONCOBOARD"
    local_port: int = 11113
    local_host: str = ""     # address the C-MOVE storage SCP binds to ("" = all interfaces)
    cache_max_bytes: int = 4 * 1024**3
    hanging_match: tuple[str, ...] = ("modality", "body_part")  # [viewer.hanging] match
    hanging_max_age_days: int = 0                               # [viewer.hanging] max_age_days
    audit_key_file: Path | None = None          # HMAC key of the audit checkpoints (site)
    audit_keyring: bool = False                 # or keep that key in the OS keyring
    audit_checkpoint_file: Path | None = None   # append-only copy of the checkpoints (a share)
    audit_syslog: str | None = None             # send checkpoints to syslog ("/dev/log", h:p)
    database_url: str | None = None             # [database] url: a PostgreSQL site database
    database_ca: Path | None = None             # [database] ca: TLS, sslmode=verify-full
    database_auth: str = "password"             # [database] auth: "password" or "kerberos"
    sources: tuple[str, ...] = field(default=())
    locked: frozenset[str] = frozenset()        # security settings the site file set
    refused: tuple[str, ...] = ()               # attempts to change them, as messages

    @property
    def db_path(self) -> Path:
        """Return the path of the SQLite database."""
        return self.data_dir / "oncoboard.db"

    @property
    def store_target(self) -> Path | str:
        """Return what `open_store` opens: the site database's URL, else the SQLite file.

        With a CA (``[database] ca``) the URL asks libpq for TLS with ``sslmode=verify-full``;
        with ``[database] auth = "kerberos"`` for GSSAPI sign-in only (``require_auth=gss``,
        never a password) and GSSAPI encryption when the server offers it (``gssencmode``).
        """
        if not self.database_url:
            return self.db_path
        from oncoboard.database_url import with_options

        options: dict[str, str] = {}
        if self.database_ca is not None:
            options.update(sslmode="verify-full", sslrootcert=str(self.database_ca))
        if self.database_auth == "kerberos":
            options.update(require_auth="gss", gssencmode="prefer")
        return with_options(self.database_url, options)

    @property
    def log_dir(self) -> Path:
        """Return the folder of the log files."""
        return self.data_dir / "logs"

    @property
    def cache_dir(self) -> Path:
        """Return the folder of the volume cache."""
        return self.data_dir / "cache"

    @property
    def user_plugin_dir(self) -> Path:
        """Return the folder where `oncoboard plugins install` puts plugins."""
        return self.data_dir / "plugins"

    def pacs_node(self, name: str) -> PacsNode:
        """Return the configured PACS node called `name`."""
        for node in self.pacs:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.pacs) or "none configured"
        raise ConfigError(f"unknown PACS node {name!r} (known: {known})")


def default_data_dir() -> Path:
    """Return the per-user application data folder."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("oncoboard", appauthor=False))


def user_config_path() -> Path:
    """Return the path of the per-user configuration file."""
    env = os.environ.get("ONCOBOARD_USER_CONFIG")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("oncoboard", appauthor=False)) / "config.toml"


def site_config_path() -> Path:
    """Return the path of the site configuration file written by IT."""
    env = os.environ.get("ONCOBOARD_SITE_CONFIG")
    return Path(env) if env else SITE_CONFIG


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", file=path) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=path) from exc


_SCALARS = {"data_dir", "language", "providers", "site_plugin_dir", "extra_plugin_dirs",
            "signed_plugins_only", "trusted_keys", "local_ae_title", "local_port", "local_host",
            "cache_max_bytes", "audit_key_file", "audit_keyring", "audit_checkpoint_file",
            "audit_syslog"}


def _merge(raw: dict[str, Any], into: dict[str, Any], path: Path, *,
           site: bool = False, keys: set[str] | None = None) -> None:
    known = keys or _SCALARS | {"dicom", "pacs", "viewer", "fhir", "database"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"unknown setting {key!r} (known: {', '.join(sorted(known))})",
                              file=path)
    origin = into.setdefault("_origin", {})  # key -> file, so that errors name the file
    locked = into.setdefault("_locked", set())
    for key in sorted((keys or _SCALARS) & raw.keys()):
        if not site and key in locked and not _stricter(key, raw[key]):
            _refuse(into, key, str(path))
            continue
        into[key] = raw[key]
        origin[key] = path
        if site and key in SECURITY_SETTINGS:
            locked.add(key)
    if isinstance(raw.get("database"), dict):  # [database] url, ca, auth (site: locked)
        _merge({f"database_{k}": v for k, v in raw["database"].items()}, into, path, site=site,
               keys={"database_url", "database_ca", "database_auth"})
    if "dicom" in raw:
        rule = raw["dicom"].get("patient_match")
        if rule is not None:
            into["patient_match"] = rule
            origin["patient_match"] = path
    if "viewer" in raw:
        _merge_viewer(raw["viewer"], into, path)
    if "pacs" in raw:
        nodes = []
        for i, node in enumerate(raw["pacs"]):
            try:
                nodes.append(_pacs_node(node))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"pacs node #{i + 1}: {exc}", file=path) from exc
        into["pacs"] = tuple(nodes)
    if "fhir" in raw:
        try:
            into["fhir"] = _fhir_server(raw["fhir"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[fhir]: {exc}", file=path) from exc


def _no_secrets(raw: dict[str, Any]) -> None:
    """Refuse a password or token written in a configuration file."""
    secrets = [k for k in raw if k.lower() in _SECRET_KEYS]
    if secrets:
        raise ValueError(f"{', '.join(secrets)} cannot be set in a configuration file: store "
                         "the secret in the OS keyring, or name an environment variable "
                         "holding it with secret_env")


def _checked_http(made: Any, url_field: str) -> Any:
    """Return an HTTP service's settings (a DICOMweb node, the FHIR server) checked: the URL's
    scheme, the sign-in (:class:`~oncoboard.nodes.HttpAccess`), the time-out a number."""
    url = str(getattr(made, url_field)).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url_field} {url!r} must start with https:// (or http://)")
    if made.auth not in PACS_AUTH:
        raise ValueError(f"auth must be one of {', '.join(PACS_AUTH)}, not {made.auth!r}")
    if made.auth == "basic" and not made.username:
        raise ValueError("auth = \"basic\" needs a username")
    if not isinstance(made.tls_verify, bool):
        raise ValueError(f"tls_verify must be true or false, not {made.tls_verify!r}")
    try:
        timeout = float(made.timeout_s)
    except (TypeError, ValueError):
        raise ValueError(f"timeout_s {made.timeout_s!r} must be a number") from None
    return replace(made, **{url_field: url}, timeout_s=timeout)


def _fhir_server(raw: Any) -> FhirServer:
    if not isinstance(raw, dict):
        raise ValueError("[fhir] must be a table")
    _no_secrets(raw)
    made: FhirServer = _checked_http(FhirServer(**raw), "base_url")
    return made


def _merge_viewer(raw: Any, into: dict[str, Any], path: Path) -> None:
    hanging = raw.get("hanging", {}) if isinstance(raw, dict) else None
    if not isinstance(hanging, dict) or set(raw) - {"hanging"}:
        raise ConfigError("[viewer] holds only a [viewer.hanging] table", file=path)
    unknown = set(hanging) - {"match", "max_age_days"}
    if unknown:
        raise ConfigError(f"unknown [viewer.hanging] setting(s): {', '.join(sorted(unknown))} "
                          "(known: match, max_age_days)", file=path)
    if "match" in hanging:
        match = hanging["match"]
        if not isinstance(match, list) or not set(match) <= set(HANGING_MATCH_FIELDS):
            raise ConfigError("viewer.hanging.match must be a list of "
                              f"{', '.join(HANGING_MATCH_FIELDS)}", file=path)
        into["hanging_match"] = tuple(match)
    if "max_age_days" in hanging:
        days = hanging["max_age_days"]
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise ConfigError("viewer.hanging.max_age_days must be a whole number >= 0",
                              file=path)
        into["hanging_max_age_days"] = days


def _stricter(key: str, value: Any) -> bool:
    """Return whether changing a locked `key` to `value` only tightens the site's policy."""
    return key == "signed_plugins_only" and value is True


def _refuse(values: dict[str, Any], key: str, source: str) -> None:
    values.setdefault("_refused", []).append(
        f"{source} tried to change {key}, which the site configuration locks: ignored")


def _pacs_node(node: dict[str, Any]) -> PacsNode:
    _no_secrets(node)
    made = PacsNode(**node)
    if made.dicomweb_url:
        return _dicomweb_node(made)
    if not (made.ae_title and made.host and made.port):
        raise ValueError("a PACS node needs ae_title, host and port (DIMSE) or "
                         "dicomweb_url (DICOMweb)")
    # TOML keeps port = "104" a string: it failed only at the first query, far from the file
    raw: Any = made.port  # as the file wrote it (TOML: a string, a boolean, a float...)
    try:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise TypeError  # true would read as port 1, 104.5 as 104
        port = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"port {made.port!r} must be a whole number") from None
    try:
        timeout = float(made.timeout_s)
    except (TypeError, ValueError):
        raise ValueError(f"timeout_s {made.timeout_s!r} must be a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"port {made.port!r} must be between 1 and 65535")
    return replace(made, port=port, timeout_s=timeout)


def _dicomweb_node(made: PacsNode) -> PacsNode:
    if made.ae_title or made.host or made.port:
        raise ValueError("give either dicomweb_url or ae_title/host/port, not both (configure "
                         "a PACS that speaks both as two nodes)")
    checked: PacsNode = _checked_http(made, "dicomweb_url")
    return checked


def _validated(values: dict[str, Any]) -> Settings:
    origin = values.get("_origin", {})

    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(reason, file=origin.get(key))

    try:
        values["data_dir"] = Path(values["data_dir"]).expanduser()
        if values.get("database_url"):
            from oncoboard.database_url import check

            values["database_url"] = check(str(values["database_url"]),
                                           str(origin.get("database_url", "database")))
        if values.get("database_auth", "password") not in DATABASE_AUTH:
            raise fail("database_auth", f"[database] auth must be one of "
                       f"{', '.join(map(repr, DATABASE_AUTH))}, not {values['database_auth']!r}")
        for key in ("site_plugin_dir", "audit_key_file", "audit_checkpoint_file", "database_ca"):
            if values.get(key):
                values[key] = Path(values[key]).expanduser()
            else:
                values.pop(key, None)
        if "audit_syslog" in values:
            values["audit_syslog"] = str(values["audit_syslog"]) or None
        for key in ("signed_plugins_only", "audit_keyring"):
            if key in values and not isinstance(values[key], bool):
                raise fail(key, f"{key} must be true or false, not {values[key]!r}")
        for key in ("providers", "extra_plugin_dirs", "trusted_keys", "sources"):
            if key in values:
                seq = values[key]
                if isinstance(seq, str):
                    seq = [seq]
                conv = str if key in ("providers", "sources") else (lambda p: Path(p).expanduser())
                values[key] = tuple(conv(v) for v in seq)
        for key in ("local_port", "cache_max_bytes"):
            if key in values:
                try:
                    values[key] = int(values[key])
                except (TypeError, ValueError) as exc:
                    raise fail(key, f"{key} must be a whole number, not "
                                    f"{values[key]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid setting: {exc}") from exc
    if values.get("language", "en") not in LANGUAGES:
        raise fail("language", f"language must be one of {', '.join(LANGUAGES)}, "
                               f"not {values['language']!r}")
    if values.get("patient_match", "patient_id") not in PATIENT_MATCH_RULES:
        raise fail("patient_match", "dicom.patient_match must be one of "
                                    f"{', '.join(PATIENT_MATCH_RULES)}")
    values["locked"] = frozenset(values.get("_locked", ()))
    values["refused"] = tuple(values.get("_refused", ()))
    names = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in names})


def load_settings(data_dir: str | Path | None = None, database: str | None = None
                  ) -> Settings:
    """Return the effective settings.

    Parameters
    ----------
    data_dir
        The data folder given on the command line; wins over every other source.
    database
        The site database URL given on the command line (``--database``).
    """
    values: dict[str, Any] = {"data_dir": default_data_dir()}
    sources = ["defaults"]
    for path, site in ((site_config_path(), True), (user_config_path(), False)):
        raw = _read_toml(path)
        if raw:
            _merge(raw, values, path, site=site)
            sources.append(str(path))
    env = os.environ
    if env.get("ONCOBOARD_HOME"):
        values["data_dir"] = env["ONCOBOARD_HOME"]
        sources.append("ONCOBOARD_HOME")
    if env.get("ONCOBOARD_PROVIDERS"):
        values["providers"] = [p.strip() for p in env["ONCOBOARD_PROVIDERS"].split(",")
                              if p.strip()]
        sources.append("ONCOBOARD_PROVIDERS")
    if env.get("ONCOBOARD_LANGUAGE"):
        values["language"] = env["ONCOBOARD_LANGUAGE"]
        values.setdefault("_origin", {})["language"] = "ONCOBOARD_LANGUAGE"
        sources.append("ONCOBOARD_LANGUAGE")
    if env.get("ONCOBOARD_PLUGIN_PATH"):
        if "extra_plugin_dirs" in values.get("_locked", ()):
            _refuse(values, "extra_plugin_dirs", "ONCOBOARD_PLUGIN_PATH")
        else:
            values["extra_plugin_dirs"] = [p for p in
                                           env["ONCOBOARD_PLUGIN_PATH"].split(os.pathsep) if p]
            sources.append("ONCOBOARD_PLUGIN_PATH")
    for given, source in ((env.get("ONCOBOARD_DATABASE"), "ONCOBOARD_DATABASE"),
                          (database, "--database")):
        if not given:
            continue
        if "database_url" in values.get("_locked", ()):
            _refuse(values, "database_url", source)
        else:
            values["database_url"] = given
            values.setdefault("_origin", {})["database_url"] = source
            sources.append(source)
    if data_dir is not None:
        values["data_dir"] = data_dir
        sources.append("--data-dir")
    values["sources"] = sources
    return _validated(values)
