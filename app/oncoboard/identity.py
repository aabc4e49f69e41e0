"""Who is running Oncoboard: the operating-system user recorded on every audited action."""

from __future__ import annotations

import getpass
import os


def os_user() -> str:
    """Return the login name of the user running Oncoboard (``uid-N`` when there is none)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name for this uid (some containers): still say who
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"
