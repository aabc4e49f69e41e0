"""A bounded on-disk cache of loaded volumes (``.npy`` memory maps).

An entry is keyed by the series UID, the stack and every source file's path, size and
modification time: when a file changes, the key changes and the old entry is dropped on the
next store for that series (or ages out). Entries are evicted least recently used first when
the folder passes its size limit (``cache_max_bytes``). Reopening maps the file instead of
reading it, so a cached series opens in about the time it takes to touch its pages.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from oncoboard.imaging.volume import Volume

log = logging.getLogger(__name__)

CACHE_VERSION = 1


class VolumeCache:
    """Volumes stored as ``<name>.npy`` (voxels) + ``<name>.json`` (everything else).

    Parameters
    ----------
    root
        The cache folder (``settings.cache_dir``).
    max_bytes
        Total size above which the least recently used entries are deleted.
    """

    def __init__(self, root: str | Path, max_bytes: int = 4 * 1024**3):
        self.root = Path(root)
        self.max_bytes = int(max_bytes)

    @staticmethod
    def key(series_uid: str, stack: int | None, files: list[tuple[str, int, int]]) -> str:
        """Return the entry name for a series stack built from `files` (path, size, mtime_ns)."""
        h = hashlib.sha1(f"{CACHE_VERSION}:{series_uid}:{stack}".encode())
        for path, size, mtime in sorted(files):
            h.update(f"\0{path}\0{size}\0{mtime}".encode())
        prefix = hashlib.sha1(f"{series_uid}:{stack}".encode()).hexdigest()[:12]
        return f"{prefix}-{h.hexdigest()[:20]}"

    def get(self, name: str) -> Volume | None:
        """Return the cached volume `name` (voxels memory-mapped read-only), or None."""
        npy, meta = self.root / f"{name}.npy", self.root / f"{name}.json"
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            voxels = np.load(npy, mmap_mode="r")
            now = None
            os.utime(npy, now)
        except (OSError, ValueError) as exc:
            if npy.exists() or meta.exists():
                log.warning("dropping unreadable cache entry %s: %s", name, exc)
                self._remove(name)
            return None
        return Volume(voxels=voxels, affine=np.array(info["affine"]), modality=info["modality"],
                      series_uid=info["series_uid"], study_uid=info["study_uid"],
                      patient_id=info["patient_id"], description=info["description"],
                      window_presets=[(str(w[0]), float(w[1]), float(w[2]))
                                      for w in info["window_presets"]],
                      warnings=info["warnings"], meta={**info["meta"], "cached": True})

    def put(self, name: str, volume: Volume) -> bool:
        """Store `volume` as `name`, replacing older entries of the same series stack."""
        if volume.voxels.nbytes > self.max_bytes:
            return False
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            prefix = name.split("-", 1)[0]
            for old in self.root.glob(f"{prefix}-*.npy"):
                if old.stem != name:
                    self._remove(old.stem)
            tmp = self.root / f"{name}.tmp.npy"
            np.save(tmp, np.ascontiguousarray(volume.voxels))
            info: dict[str, Any] = {
                "affine": volume.affine.tolist(), "modality": volume.modality,
                "series_uid": volume.series_uid, "study_uid": volume.study_uid,
                "patient_id": volume.patient_id, "description": volume.description,
                "window_presets": [list(w) for w in volume.window_presets],
                "warnings": volume.warnings, "meta": volume.meta}
            (self.root / f"{name}.json").write_text(json.dumps(info, default=str),
                                                    encoding="utf-8")
            tmp.replace(self.root / f"{name}.npy")
        except OSError as exc:
            log.warning("cannot write cache entry %s: %s", name, exc)
            return False
        self.evict()
        return True

    def entries(self) -> list[tuple[Path, int, float]]:
        """Return (npy path, bytes, last use time) of every entry."""
        out = []
        for npy in self.root.glob("*.npy"):
            if npy.name.endswith(".tmp.npy"):
                continue
            try:
                st = npy.stat()
            except OSError:
                continue
            out.append((npy, st.st_size, st.st_mtime))
        return out

    def total_bytes(self) -> int:
        """Return the size of all entries."""
        return sum(size for _, size, _ in self.entries())

    def evict(self) -> list[str]:
        """Delete least recently used entries until the cache fits; return their names."""
        entries = sorted(self.entries(), key=lambda e: e[2])
        total = sum(e[1] for e in entries)
        removed = []
        for npy, size, _ in entries:
            if total <= self.max_bytes:
                break
            self._remove(npy.stem)
            total -= size
            removed.append(npy.stem)
        return removed

    def clear(self) -> None:
        """Delete every entry."""
        for npy, _, _ in self.entries():
            self._remove(npy.stem)

    def _remove(self, name: str) -> None:
        for suffix in (".npy", ".json"):
            try:
                (self.root / f"{name}{suffix}").unlink()
            except FileNotFoundError:
                pass
