"""Settings for every test: nothing is written to the real user's folders.

The per-user data, config and cache folders (platformdirs reads the XDG variables) point into
one temporary folder for the whole run, subprocesses included; tests that need a data folder
still make their own.
"""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config):  # noqa: ARG001 - pytest's hook signature
    base = tempfile.mkdtemp(prefix="oncoboard-tests-")
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        os.environ[name] = os.path.join(base, name.lower())
