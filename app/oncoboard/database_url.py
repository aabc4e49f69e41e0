"""Which database a workstation uses, and how its address is shown.

The SQLite file in the data folder unless a site database is named: ``[database] url`` in the
site configuration, ``ONCOBOARD_DATABASE``, or ``--database URL``. A password never sits in the
URL (refused): libpq finds it in ``PGPASSFILE``/``~/.pgpass`` or ``PGPASSWORD``, or the OS
keyring holds it (service ``oncoboard-database``, the login as user name). Logs and messages show
the URL with any password masked (:func:`masked`). A site using Kerberos (``[database] auth =
"kerberos"``) signs in with the user's ticket instead: the URL then carries ``require_auth=gss``
and no password is looked up or sent.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from oncoboard.errors import ConfigError

SCHEMES = ("postgresql://", "postgres://")
#: The keyring service under which a site database password is kept.
KEYRING_SERVICE = "oncoboard-database"


def is_postgres(target: object) -> bool:
    """Return whether `target` names a PostgreSQL database."""
    return isinstance(target, str) and target.startswith(SCHEMES)


def masked(url: str) -> str:
    """Return `url` with its password (if any) replaced by ``***``."""
    url = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def has_password(url: str) -> bool:
    """Return whether `url` carries a password (in its user part or as a parameter)."""
    return masked(url) != url


def check(url: str, source: str) -> str:
    """Return `url` if it is a usable PostgreSQL URL; raise ConfigError naming `source`."""
    if not is_postgres(url):
        raise ConfigError(f"{source}: database url {masked(url)!r} must start with "
                          "postgresql://")
    if has_password(url):
        raise ConfigError(f"{source}: the database url carries a password: remove it and keep "
                          f"the password in the OS keyring (service {KEYRING_SERVICE!r}) or a "
                          "pgpass file (PGPASSFILE)")
    return url


def describe(url: str) -> str:
    """Return 'host:port/dbname' for messages (no user, no password)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or '/'}"


def user_of(url: str) -> str | None:
    """Return the login named in `url`, if any."""
    name = urlsplit(url).username
    return unquote(name) if name else None


def login_of(url: str) -> str:
    """Return the login libpq signs in with: the URL's user, else ``PGUSER``, else the OS user."""
    import getpass
    import os

    return user_of(url) or os.environ.get("PGUSER") or getpass.getuser()


def keyring_password(url: str) -> str | None:
    """Return the password the OS keyring holds for the login (:func:`login_of`), or None."""
    user = login_of(url)
    try:
        import keyring

        found = keyring.get_password(KEYRING_SERVICE, user)
    except Exception:  # noqa: BLE001 - no keyring backend (headless): libpq's own sources apply
        return None
    return str(found) if found else None


def options_of(url: str) -> dict[str, str]:
    """Return the libpq options given as the URL's query parameters (last one wins)."""
    return dict(parse_qsl(urlsplit(url).query))


def with_options(url: str, options: dict[str, str]) -> str:
    """Return `url` with the libpq `options` added; those the URL already sets are kept."""
    given = options_of(url)
    extra = {k: v for k, v in options.items() if k not in given}
    if not extra:
        return url
    glue = "&" if "?" in url else "?"
    return f"{url}{glue}{urlencode(extra, safe='/')}"


def wants_kerberos(url: str) -> bool:
    """Return whether `url` signs in by Kerberos/GSSAPI only (``require_auth=gss``)."""
    return options_of(url).get("require_auth") == "gss"
