"""Plugin checks remembered across processes (``<data folder>/cache/plugin-checks.json``).

Checking a plugin costs 20-40 ms (reading the manifest's units with pint, opening the model with
onnxruntime, running the golden case) and every command used to repeat it for every plugin. The
results of the two expensive, deterministic steps are kept here:

- *the manifest's units are known to pint*: remembered for the sha256 of the manifest's bytes;
- *the model checks* (graph against the manifest, scenarios, explanation coefficients, golden
  case): remembered for a key made of the sha256 of the manifest, of the signature file and of
  the model file, the name, size and modification time of every file of the plugin folder, the
  ``golden`` flag and the stamp of the checking code (application version, sizes and times of
  its modules).

What is never taken from the cache: the trust decision. Every check hashes the manifest, the
signature and the model again and verifies the signature against the trusted keys, so a manifest
edited after caching (even with its size and time kept) gets a new key and is refused again, and
a forged cache file cannot make an unsigned or tampered plugin pass a ``signed_plugins_only``
policy. A damaged or foreign cache file is ignored. The file is written atomically (a temporary
file renamed over it), readable by its owner only; it holds one entry per plugin folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard import __version__

if TYPE_CHECKING:
    from oncoboard.config import Settings

log = logging.getLogger(__name__)

CACHE_NAME = "plugin-checks.json"
FORMAT = 1
#: The modules whose code decides a check's result: a change to any of them drops the cache.
_CHECK_MODULES = ("manifest.py", "manifest_inputs.py", "manifest_outputs.py", "checks.py",
                  "integrity.py", "discovery.py", "check_cache.py", "explain.py", "inputs.py",
                  "model_io.py", "../units.py")


def code_stamp() -> str:
    """Return a stamp of the application version and the checking modules' files."""
    here = Path(__file__).resolve().parent
    parts = [__version__]
    for name in _CHECK_MODULES:
        try:
            st = (here / name).stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{name}:-")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def folder_stamp(folder: Path) -> list[list[Any]]:
    """Return [relative name, size, mtime_ns] of every file under `folder`, sorted."""
    out: list[list[Any]] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            try:
                st = path.stat()
            except OSError:
                continue
            out.append([path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def model_key(*, manifest_sha256: str, signature_sha256: str | None, model_sha256: str,
              folder: Path, golden: bool, code: str) -> str:
    """Return the key of a plugin's model checks (see the module doc)."""
    blob = json.dumps([FORMAT, code, manifest_sha256, signature_sha256, model_sha256, golden,
                       folder_stamp(folder)], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class CheckCache:
    """The cache file of one data folder; `path` None keeps it in memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.code = code_stamp()
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        if path is not None:
            self._read()

    @classmethod
    def for_settings(cls, settings: Settings) -> CheckCache:
        """Return the cache of `settings`' data folder (memory only if that folder is absent)."""
        data_dir = getattr(settings, "data_dir", None)
        if data_dir is None or not Path(data_dir).is_dir():
            return cls(None)
        return cls(Path(data_dir) / "cache" / CACHE_NAME)

    def _read(self) -> None:
        assert self.path is not None
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if (not isinstance(raw, dict) or raw.get("format") != FORMAT
                or raw.get("code") != self.code or not isinstance(raw.get("plugins"), dict)):
            return
        self.entries = {k: v for k, v in raw["plugins"].items() if isinstance(v, dict)}

    @staticmethod
    def _slot(folder: Path, origin: str) -> str:
        return f"{origin}:{Path(folder).resolve()}"

    def units_known(self, folder: Path, origin: str, manifest_sha256: str) -> bool:
        """Return whether this exact manifest's units were read by pint before."""
        entry = self.entries.get(self._slot(folder, origin)) or {}
        return entry.get("manifest_sha256") == manifest_sha256 and entry.get("units_ok") is True

    def model_problems(self, folder: Path, origin: str, key: str) -> list[str] | None:
        """Return the remembered problems of the model checks for `key`, or None."""
        entry = self.entries.get(self._slot(folder, origin))
        if not entry or entry.get("model_key") != key:
            return None
        problems = entry.get("model_problems")
        if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
            return None
        return list(problems)

    def remember(self, folder: Path, origin: str, *, manifest_sha256: str,
                 key: str | None = None, problems: list[str] | None = None) -> None:
        """Remember a manifest whose units are valid and, with `key`, its model checks."""
        slot = self._slot(folder, origin)
        entry = {"manifest_sha256": manifest_sha256, "units_ok": True}
        if key is not None and problems is not None:
            entry |= {"model_key": key, "model_problems": list(problems)}
        if self.entries.get(slot) != entry:
            self.entries[slot] = entry
            self.dirty = True

    def save(self) -> None:
        """Write the file atomically, owner-only; never raises (a cache is optional)."""
        if self.path is None or not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".plugin-checks-",
                                       suffix=".tmp")  # created 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump({"format": FORMAT, "code": self.code, "plugins": self.entries}, f,
                              separators=(",", ":"), sort_keys=True)
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self.dirty = False
        except OSError as exc:
            log.debug("plugin check cache not written: %s", exc)
