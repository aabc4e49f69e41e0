"""Who is running Oncoboard, on which workstation, and what they may do.

The signed-in user is a value (:class:`User`) chosen once when the store is opened and carried by
the store (``store.user``); deep functions ask :func:`user_of` for it instead of reading the
environment. On the embedded SQLite database the user is the operating-system login and holds
every role (one person, one file). On a site database the user is the database login and the roles
are the site roles the login is a member of (:func:`database_user`; the PostgreSQL roles and their
grants are created by ``packaging/site/roles.sql``).

Roles and what each action needs (:data:`PERMISSIONS`): ``coordinator`` prepares meetings and
their agenda; ``clinician`` reads patient records, runs models and records decisions;
``radiologist`` handles images, lesions and measurements; ``admin`` installs plugins and changes
site settings. The core refuses an action whose role the user lacks (:meth:`User.require`,
:class:`~oncoboard.errors.RoleError`), whatever the GUI shows; on a site database the server's
grants refuse it too.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from oncoboard.errors import RoleError

#: The four site roles.
ROLES = ("coordinator", "clinician", "radiologist", "admin")

#: The role each action needs (the core checks it; roles.sql grants the matching tables).
PERMISSIONS: dict[str, str] = {
    "meeting.edit": "coordinator",      # create a meeting, change its status or attendees
    "agenda.edit": "coordinator",       # add, move, edit or remove a case
    "record.read": "clinician",         # open a patient's record (written to the access log)
    "record.import": "clinician",       # import patient records (FHIR, CSV)
    "model.run": "clinician",           # run a model, store its prediction
    "decision.record": "clinician",     # record or amend the board's decision
    "image.import": "radiologist",      # index DICOM, retrieve from a PACS
    "lesion.edit": "radiologist",       # define lesions, add or withdraw measurements
    "plugin.manage": "admin",           # install, remove, trust plugins
    "settings.edit": "admin",           # site settings, PACS and FHIR nodes
    "access.read": "admin",             # read the access log (who opened which record)
}

#: PostgreSQL role of each site role (``oncoboard_<role>``, see packaging/site/roles.sql).
DATABASE_ROLE_PREFIX = "oncoboard_"


def os_user() -> str:
    """Return the login name of the user running Oncoboard (``uid-N`` when there is none)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name for this uid (some containers): still say who
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def workstation() -> str:
    """Return this machine's host name (the workstation recorded in the access log)."""
    try:
        return socket.gethostname() or "unknown"
    except OSError:
        return "unknown"


@dataclass(frozen=True)
class User:
    """The signed-in user: login, roles held, workstation, and where the login comes from.

    ``source`` is ``os`` (the embedded database: the OS login, every role) or ``database``
    (a site database: the database login, the roles it is a member of).
    """

    login: str
    roles: frozenset[str] = field(default_factory=lambda: frozenset(ROLES))
    workstation: str = ""
    source: str = "os"

    def has(self, role: str) -> bool:
        """Return whether the user holds `role`."""
        return role in self.roles

    def require(self, action: str) -> None:
        """Raise RoleError unless the user holds the role `action` needs."""
        role = PERMISSIONS.get(action)
        if role is None:
            raise KeyError(f"unknown action {action!r}")  # a programming error, not the user's
        if role not in self.roles:
            raise RoleError(f"user {self.login} needs role {role} to {_VERB.get(action, action)}"
                            f" (holds: {', '.join(sorted(self.roles)) or 'none'})",
                            where=action, role=role)


_VERB = {
    "meeting.edit": "change a meeting", "agenda.edit": "change a meeting's agenda",
    "record.read": "open a patient's record", "record.import": "import patient records",
    "model.run": "run a model", "decision.record": "record a board decision",
    "image.import": "import images", "lesion.edit": "change lesions or measurements",
    "plugin.manage": "manage plugins", "settings.edit": "change site settings",
    "access.read": "read the access log",
}


def local_user() -> User:
    """Return the user of the embedded database: the OS login, every role, this workstation."""
    return User(os_user(), frozenset(ROLES), workstation(), "os")


def database_user(login: str, memberships: Iterable[str], host: str | None = None) -> User:
    """Return the user of a site database from its login and the database roles it belongs to.

    `memberships` are role names such as ``oncoboard_clinician`` (e.g. from ``SELECT rolname
    FROM pg_roles WHERE pg_has_role(current_user, oid, 'member')``); others are ignored.
    """
    roles = {m.removeprefix(DATABASE_ROLE_PREFIX) for m in memberships
             if m.startswith(DATABASE_ROLE_PREFIX)}
    return User(login, frozenset(r for r in roles if r in ROLES),
                host if host is not None else workstation(), "database")


def user_of(store: Any) -> User:
    """Return the user signed in on `store` (set when it was opened; else the local user).

    A store opened without a user (a worker thread's own connection) gets the local user once
    and keeps it.
    """
    user = getattr(store, "user", None)
    if isinstance(user, User):
        return user
    user = local_user()
    try:
        store.user = user
    except AttributeError:  # an object that takes no attributes: ask again next time
        pass
    return user


def require(store: Any, action: str) -> User:
    """Return the store's user after checking they may do `action` (RoleError if not)."""
    user = user_of(store)
    user.require(action)
    return user
