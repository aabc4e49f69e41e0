"""View a series of a DICOMweb PACS without importing it: frames fetched on demand, cached.

`RemoteSeries.open` reads the series' metadata (WADO-RS ``.../metadata``), builds the same
instance records, stack and geometry as an import would (`geometry.layout_stack`), and maps an
on-disk array for the voxels. `fetch` fills slices: the ones asked first (the slice on screen),
then the rest in one streamed WADO-RS request (or one request per instance when only a few are
missing). Each instance is decoded and rescaled exactly as `assemble` does for local files, so
the volume is voxel-equal to the imported series.

Cache: ``<cache_dir>/dicomweb/<key>.npy`` (the voxels), ``<key>.have`` (one byte per slice,
1 once written) and ``<series>.meta.json`` (the instance records made from the metadata), in a
folder only the user can enter, files readable by the user only. The key depends on the node's
URL, the series and the SOP instance UIDs in slice order, so a reopen reuses every slice already
fetched and a changed series starts a new entry; the records are reused while the PACS counts as
many instances in the series (a series-level QIDO-RS search, from its index, instead of the
metadata of every file). An instance replaced by another (same count) is found when its pixels
are fetched: the entry is dropped and the next opening reads the metadata again. The folder is kept
under ``cache_max_bytes`` by deleting the least recently used entries. A series bigger than
the limit is held in memory only. Memory: the voxels are a file-backed map (pages the kernel
may drop), one instance at a time is decoded.

One difference from `assemble`: when the stored values cannot all fit int16 by their header
(16 stored bits unsigned, non-integer rescale), the voxels are float32 from the start (the local
loader looks at the values to choose); the values are the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.config import PacsNode
from oncoboard.errors import DicomError, NotFoundError, PacsError
from oncoboard.imaging import dicomweb
from oncoboard.imaging.assemble import _apply_sources, _inplace_rescaler, _stored_max_min, _volume
from oncoboard.imaging.geometry import Layout, layout_stack
from oncoboard.imaging.headers import InstanceRecord, _record_from_dataset, geometry_problem
from oncoboard.imaging.pixels import LoadCancelled, container_dtype
from oncoboard.imaging.volume import Volume
from oncoboard.imaging.webcache import cache_folder, evict
from oncoboard.imaging.webjson import JsonDataset

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]
#: Fetch instance by instance (not the whole series) when at most this many are missing.
FEW = 8
COUNT_TAG = "00201209"  # NumberOfSeriesRelatedInstances
_FAKE_STAT = os.stat_result((0o100600, 0, 0, 1, 0, 0, 1 << 62, 0, 0, 0))


class RemoteSeries:
    """One stack of a PACS series, filled slice by slice into a cached array.

    Parameters
    ----------
    node
        A DICOMweb node.
    study_uid, series_uid
        The series (the study UID is looked up with QIDO-RS when empty).
    cache_dir
        The cache folder (`cache_folder`); None keeps the voxels in memory only.
    max_bytes
        Size limit of the cache folder.
    stack
        Which stack when the series holds several (0, the default, is the largest).
    """

    def __init__(self, node: PacsNode, study_uid: str, series_uid: str, *,
                 cache_dir: Path | None, max_bytes: int = 4 * 1024**3, stack: int | None = None):
        if not node.is_dicomweb:
            raise PacsError(f"PACS {node.name!r} is a DIMSE node: viewing without import needs "
                            "a DICOMweb node (dicomweb_url)")
        self.node, self.study_uid, self.series_uid = node, study_uid, series_uid
        self.cache_dir, self.max_bytes, self.stack = cache_dir, int(max_bytes), stack
        self.volume: Volume | None = None
        self.layout: Layout | None = None
        self.raw: NDArray[Any] | None = None  # one slot per frame of the layout
        self.have: NDArray[np.uint8] | None = None
        self._lock = threading.Lock()
        self._web: Any = None
        self._key = ""
        self._post: Any = None
        self._where: dict[tuple[str, int], int] = {}  # (SOP UID, frame) -> slot
        self._mono1 = False
        self._first: InstanceRecord | None = None
        self._unsaved: list[InstanceRecord] | None = None

    # -- opening ---------------------------------------------------------------------------
    def open(self, *, cancel: Cancel | None = None) -> Volume:
        """Read the metadata, lay out the stack, map the cache; return the (partial) volume."""
        from oncoboard.imaging.assemble import pick_stack

        self._web = dicomweb.client(self.node)
        if not self.study_uid:
            self.study_uid = self._study_of_series()
        records = self._records()
        if cancel is not None and cancel():
            raise LoadCancelled("opening cancelled")
        where = self.series_uid
        chosen, stacks = pick_stack(records, self.stack, where)
        if any(r.samples_per_pixel > 1 for r in (f.record for f in chosen.frames)):
            raise DicomError("colour series cannot be viewed from the PACS yet: retrieve it "
                             "into the index", where=where)
        layout = layout_stack(chosen)
        first = layout.frames[0].record
        widths = {(f.record.bits_allocated, f.record.pixel_representation)
                  for f in layout.frames}
        if len(widths) > 1:
            raise DicomError(f"frames mix pixel formats {sorted(widths)}", where=where)
        self.layout, self._first = layout, first
        self._mono1 = first.photometric == "MONOCHROME1"
        self._where = {(f.record.sop_uid, f.index): k for k, f in enumerate(layout.frames)}
        slopes = np.array([f.geom.slope for f in layout.frames])
        intercepts = np.array([f.geom.intercept for f in layout.frames])
        container = container_dtype(first.bits_allocated, bool(first.pixel_representation))
        probe = np.empty((0, 0, 0), container)
        self._post = _inplace_rescaler(probe, first, slopes, intercepts, self._mono1)
        self._slopes, self._intercepts = slopes, intercepts
        dtype = np.dtype(np.int16) if self._post is not None else np.dtype(np.float32)
        shape = (len(layout.frames), first.rows, first.columns)
        self.raw, self.have = self._map(shape, dtype, [f.record.sop_uid for f in layout.frames])
        blended = any(len(src) > 1 for src in layout.sources)
        voxels = self.raw if layout.is_direct else np.zeros(
            (len(layout.sources), *shape[1:]), np.float32 if blended else dtype)
        warnings = list(layout.warnings)
        if self._mono1:
            warnings.append("MONOCHROME1 image inverted so that higher values are brighter")
        self.volume = _volume(voxels, layout, chosen, stacks, first, warnings, self._mono1)
        self.volume.meta["remote"] = {"node": self.node.name, "cache_key": self._key}
        return self.volume

    def _study_of_series(self) -> str:
        with dicomweb._calls(self.node, "QIDO-RS series search"):
            rows = dicomweb.qido(self._web, "series", {"SeriesInstanceUID": self.series_uid},
                                 ["StudyInstanceUID"])
        if not rows:
            raise NotFoundError(f"{dicomweb.address(self.node)} has no series "
                                f"{self.series_uid} (deleted since the search?)")
        return str(dicomweb._datasets(rows)[0].get("StudyInstanceUID", ""))

    def _url(self, sop: str | None = None) -> str:
        url = f"{self.node.dicomweb_url}/studies/{self.study_uid}/series/{self.series_uid}"
        return f"{url}/instances/{sop}" if sop else url

    @property
    def _series_key(self) -> str:
        return hashlib.sha256(f"{self.node.dicomweb_url}\0{self.study_uid}\0"
                              f"{self.series_uid}".encode()).hexdigest()[:24]

    def _cached_records(self) -> list[InstanceRecord] | None:
        """Return the records kept by an earlier opening if the series still has as many
        instances on the PACS (a series-level QIDO-RS search, answered from the PACS's index;
        the metadata request reads every file)."""
        if self.cache_dir is None:
            return None
        path = self.cache_dir / f"{self._series_key}.meta.json"
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            records = [InstanceRecord.from_json_dict(d) for d in kept["records"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            with dicomweb._calls(self.node, "QIDO-RS series search"):
                rows = dicomweb.qido(self._web, f"studies/{self.study_uid}/series",
                                     {"SeriesInstanceUID": self.series_uid},
                                     ["NumberOfSeriesRelatedInstances"])
        except NotFoundError:
            return None  # gone: the metadata request says so in the usual words
        counts = [r.get(COUNT_TAG, {}).get("Value", [None])[0] for r in rows]
        return records if counts == [len(records)] else None

    def _keep_records(self, records: list[InstanceRecord]) -> None:
        if self.cache_dir is None:
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.cache_dir, 0o700)
            path = self.cache_dir / f"{self._series_key}.meta.json"
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"records": [r.to_json_dict() for r in records]}, f)
        except OSError as exc:
            log.warning("DICOMweb metadata not cached (%s)", exc.strerror)

    def _records(self) -> list[InstanceRecord]:
        cached = self._cached_records()
        if cached is not None:
            return cached
        try:
            with dicomweb._calls(self.node, "WADO-RS metadata retrieval"):
                rsp = self._web._http_get(f"{self._url()}/metadata",
                                          headers={"Accept": "application/dicom+json"})
                rows = rsp.json() if rsp.content else []
        except NotFoundError:
            rows = []
        if not rows:
            raise NotFoundError(f"{dicomweb.address(self.node)} has no instances of series "
                                f"{self.series_uid} (deleted since the search?)")
        records = []
        for row in rows:
            ds = JsonDataset(row)
            ts = str(ds.get("TransferSyntaxUID", "") or "1.2.840.10008.1.2.1")
            sop = str(ds.get("SOPInstanceUID", ""))
            rec = _record_from_dataset(ds, f"{self._url(sop)}", _FAKE_STAT, ts, 0, None)
            if bad := geometry_problem(rec.frames):
                raise DicomError(f"invalid geometry: {bad}", where=sop)
            records.append(rec)
        self._unsaved = records  # kept once the first slices are here (off their path)
        return records

    # -- the cache ---------------------------------------------------------------------------
    def _map(self, shape: tuple[int, int, int], dtype: np.dtype[Any],
             sops: list[str]) -> tuple[NDArray[Any], NDArray[np.uint8]]:
        h = hashlib.sha256(f"{self.node.dicomweb_url}\0{self.study_uid}\0{self.series_uid}\0"
                           f"{self.stack}\0{shape}\0{dtype.str}".encode())
        for sop in sops:
            h.update(b"\0" + sop.encode())
        self._key = f"{self._series_key}-{h.hexdigest()[:16]}"
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if self.cache_dir is None or nbytes > self.max_bytes:
            return np.zeros(shape, dtype), np.zeros(shape[0], np.uint8)
        from numpy.lib.format import open_memmap

        root = self.cache_dir
        try:
            root.mkdir(parents=True, exist_ok=True)
            os.chmod(root, 0o700)
            npy, have = root / f"{self._key}.npy", root / f"{self._key}.have"
            if npy.is_file() and have.is_file() and have.stat().st_size == shape[0]:
                try:
                    raw = open_memmap(npy, mode="r+")
                    if raw.shape == shape and raw.dtype == dtype:
                        os.utime(npy)
                        return raw, np.memmap(have, np.uint8, mode="r+", shape=(shape[0],))
                except ValueError:
                    pass
            for old in [npy, *root.glob(f"{self._series_key}-*.npy")]:
                for path in (old, old.with_suffix(".have")):  # this entry, older versions
                    path.unlink(missing_ok=True)
            evict(root, self.max_bytes - nbytes, keep=self._series_key)
            raw = open_memmap(npy, mode="w+", dtype=dtype, shape=shape)
            os.chmod(npy, 0o600)
            fd = os.open(have, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(bytes(shape[0]))
            return raw, np.memmap(have, np.uint8, mode="r+", shape=(shape[0],))
        except OSError as exc:
            log.warning("DICOMweb cache not used (%s): slices kept in memory", exc.strerror)
            return np.zeros(shape, dtype), np.zeros(shape[0], np.uint8)

    def drop_cache(self) -> None:
        """Delete this series' cache entry (after the series vanished from the PACS)."""
        if self.cache_dir is not None and self._key:
            for suffix in (".npy", ".have"):
                (self.cache_dir / f"{self._key}{suffix}").unlink(missing_ok=True)
        if self.cache_dir is not None:
            (self.cache_dir / f"{self._series_key}.meta.json").unlink(missing_ok=True)

    # -- fetching ----------------------------------------------------------------------------
    @property
    def missing(self) -> list[int]:
        """Return the slots (frames of the layout) not fetched yet."""
        assert self.have is not None
        return [int(k) for k in np.flatnonzero(self.have == 0)]

    @property
    def complete(self) -> bool:
        """Return True when every slice is here."""
        return self.have is not None and bool(np.all(self.have))

    def slot_of_slice(self, k: int) -> list[int]:
        """Return the frame slots an output slice `k` is made from."""
        assert self.layout is not None
        return [i for i, _w in self.layout.sources[k]] if not self.layout.is_direct else [k]

    def has_slice(self, k: int) -> bool:
        """Return True when output slice `k` is here (every frame it is made from)."""
        return self.have is not None and all(self.have[s] for s in self.slot_of_slice(k))

    def ready(self) -> NDArray[np.bool_]:
        """Return, per output slice, whether it is here."""
        assert self.layout is not None
        return np.array([self.has_slice(k) for k in range(len(self.layout.sources))], bool)

    def fetch(self, first: Iterable[int] = (), *, progress: Progress | None = None,
              cancel: Cancel | None = None, rest: bool = True) -> None:
        """Fetch the output slices in `first` (one request each), then, with `rest`, the others.

        Raises
        ------
        NotFoundError
            The series or some of its instances are gone from the PACS (the cache entry is
            dropped).
        PacsError
            The PACS cannot be reached or fails the request (fetched slices stay cached).
        LoadCancelled
            `cancel` returned True (fetched slices stay cached).
        """
        assert self.layout is not None and self.have is not None
        total = len(self.have)
        first = list(first)
        wanted_first = [s for k in first for s in self.slot_of_slice(k) if not self.have[s]]
        try:
            sops = list(dict.fromkeys(self.layout.frames[s].record.sop_uid for s in wanted_first))
            self._fetch_instances(sops, progress, cancel, total)
            if rest:
                missing = self.missing
                sops = list(dict.fromkeys(self.layout.frames[s].record.sop_uid for s in missing))
                if len(sops) <= FEW:
                    self._fetch_instances(sops, progress, cancel, total)
                elif sops:
                    self._receive(self._parts(self._url()), progress, cancel, total)
                if self.missing:
                    raise NotFoundError(
                        f"{dicomweb.address(self.node)} did not send {len(self.missing)} of the "
                        f"{total} images of series {self.series_uid} (deleted since the "
                        "search?)")
        except NotFoundError as exc:
            self._unsaved = None
            self.drop_cache()
            if "deleted since" in exc.message:
                raise
            raise NotFoundError(f"{dicomweb.address(self.node)} no longer has series "
                                f"{self.series_uid} or some of its images (deleted since the "
                                "search?)") from None
        finally:
            self._flush()
            if rest and self._unsaved is not None and self.have is not None and any(self.have):
                self._keep_records(self._unsaved)
                self._unsaved = None
        if not self.layout.is_direct and self.volume is not None:
            assert self.raw is not None
            if self.complete:
                self.volume.voxels = _apply_sources(np.asarray(self.raw), self.layout)
            else:  # the slices asked first, made of the frames already here
                for k in first:
                    src = self.layout.sources[k]
                    if src and all(self.have[i] for i, _w in src):
                        self.volume.voxels[k] = sum(
                            np.asarray(self.raw[i], np.float32) * w for i, w in src) \
                            if len(src) > 1 else self.raw[src[0][0]]
        self._auto_window()

    def _fetch_instances(self, sops: list[str], progress: Progress | None, cancel: Cancel | None,
                         total: int) -> None:
        for sop in sops:
            self._receive(self._parts(self._url(sop)), progress, cancel, total)

    def _parts(self, url: str) -> Iterator[bytes]:
        with dicomweb._calls(self.node, "WADO-RS retrieval"):
            yield from dicomweb._parts(self._web, url)

    def _receive(self, parts: Iterator[bytes], progress: Progress | None, cancel: Cancel | None,
                 total: int) -> None:
        try:
            for part in parts:
                if cancel is not None and cancel():
                    raise LoadCancelled("loading from the PACS cancelled")
                self._store(part)
                if progress is not None:
                    assert self.have is not None
                    done = int(np.count_nonzero(self.have))
                    progress(done, total, f"{done} of {total} images from {self.node.name}")
        finally:
            close = getattr(parts, "close", None)
            if close is not None:
                close()

    def _store(self, part: bytes) -> None:
        import pydicom

        assert self.raw is not None and self.have is not None and self._first is not None
        ds = pydicom.dcmread(BytesIO(part), force=True)
        sop = str(ds.get("SOPInstanceUID", ""))
        n = int(ds.get("NumberOfFrames", 1) or 1)
        slots = [(i, s) for i in range(n)
                 if (s := self._where.get((sop, i))) is not None and not self.have[s]]
        if not slots:
            return
        try:
            pixels = ds.pixel_array
        except Exception as exc:  # pydicom raises many types for undecodable pixels
            raise DicomError(f"pixels cannot be decoded ({type(exc).__name__}: "
                             f"{str(exc)[:160]})", where=sop) from None
        if n == 1:
            pixels = pixels[None]
        container = container_dtype(self._first.bits_allocated,
                                    bool(self._first.pixel_representation))
        for i, s in slots:
            frame = np.asarray(pixels[i]).astype(container, copy=False)
            if frame.shape != self.raw.shape[1:]:
                raise DicomError(f"frame {i + 1} is {frame.shape}, the series "
                                 f"{self.raw.shape[1:]}", where=sop)
            with self._lock:
                self._put(s, frame)
                self.have[s] = 1

    def _put(self, s: int, frame: NDArray[Any]) -> None:
        assert self.raw is not None and self._first is not None
        if self._post is not None:
            work = frame.copy()
            self._post(s, work)
            self.raw[s] = work.view(np.int16)
            return
        value = frame
        if self._mono1:
            hi, lo = _stored_max_min(self._first)
            value = (hi + lo) - frame.astype(np.int64)
        out = np.multiply(value, np.float32(self._slopes[s]), dtype=np.float32)
        out += np.float32(self._intercepts[s])
        self.raw[s] = out

    def _flush(self) -> None:
        for arr in (self.raw, self.have):
            flush = getattr(arr, "flush", None)
            if flush is not None:
                with contextlib.suppress(OSError, ValueError):
                    flush()

    def _auto_window(self) -> None:
        vol = self.volume
        if vol is None or not vol.window_presets or vol.window_presets[0][0] != "Auto":
            return
        here = [k for k in range(vol.shape[0]) if all(
            self.have is not None and self.have[s] for s in self.slot_of_slice(k))]
        if not here:
            return
        sample = np.asarray(vol.voxels)[here[::max(1, len(here) // 16)], ::4, ::4]
        lo, hi = np.percentile(sample, [1, 99])
        vol.window_presets[0] = ("Auto", float((lo + hi) / 2), float(max(hi - lo, 1.0)))


def open_remote(settings: Any, node: PacsNode, series_uid: str, *, study_uid: str = "",
                visible: int | None = None, rest: bool = True, stack: int | None = None,
                progress: Progress | None = None, cancel: Cancel | None = None
                ) -> tuple[RemoteSeries, Volume]:
    """Open a PACS series for viewing: the `visible` slice (default the middle) first.

    With `rest` every other slice is fetched before returning; else call
    ``series.fetch(progress=..., cancel=...)`` later (e.g. on a background thread).
    """
    series = RemoteSeries(node, study_uid, series_uid,
                          cache_dir=cache_folder(settings) if settings is not None else None,
                          max_bytes=getattr(settings, "cache_max_bytes", 4 * 1024**3),
                          stack=stack)
    volume = series.open(cancel=cancel)
    k = volume.shape[0] // 2 if visible is None else int(np.clip(visible, 0, volume.shape[0] - 1))
    series.fetch([k], progress=progress, cancel=cancel, rest=rest)
    log.info("series %s from %s: %d slices, %s", series_uid, node.name, volume.shape[0],
             "complete" if series.complete else f"{len(series.missing)} to fetch")
    return series, volume
