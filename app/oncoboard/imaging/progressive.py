"""Open a local compressed series progressively: the visible slice first, the rest after.

Decoding a 400-slice JPEG 2000 CT takes seconds whatever the decoder; the viewer does not
wait for it. `ProgressiveSeries` lays the series out as `assemble` does (same stack, order,
affine, warnings, rescale), decodes the slice on screen on the calling thread, and `run`
decodes the others outward from it (nearest first) on threads of this process (OpenJPEG
through imagecodecs releases the GIL) or in the decoding pool (JPEG-LS, JPEG, RLE: their
decoders hold the GIL), into the array the viewer already shows. `want` moves slices the
user scrolls to ahead of the others. Once complete the volume is voxel-equal to `assemble`'s
(the same in-place int16 rescale per frame; gaps and resampled slices made by the same
`_apply_sources`; window presets computed again from the whole volume).

Uncompressed series are not opened this way (reading them is about as fast as showing one
slice), nor series whose values need the whole volume to choose their type (stored values that
may not fit int16 after rescale, non-integer rescale) or colour series: `open_local` loads
those whole, as before. A frame that cannot be decoded does not stop the others: its slice is
left blank (the volume's lowest value), a warning names its file and `errors` holds the message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.errors import DicomError
from oncoboard.imaging.assemble import (
    _apply_sources,
    _inplace_rescaler,
    _job,
    _volume,
    _windows,
    pick_stack,
)
from oncoboard.imaging.geometry import layout_stack
from oncoboard.imaging.headers import InstanceRecord
from oncoboard.imaging.pixels import (
    FrameJob,
    LoadCancelled,
    _is_native,
    _j2k_threaded,
    container_dtype,
    decode_frame,
    get_pool,
    pool_size,
)
from oncoboard.imaging.volume import Volume

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]
#: Fewer frames than this are simply loaded whole.
MIN_FRAMES = 8
#: Frames per pool task (a process decodes a few at once; pickling stays cheap).
POOL_CHUNK = 4
_WAITING, _DONE, _FAILED = 0, 1, 2


#: Niceness added to the decoding threads (ONCOBOARD_DECODE_NICE): the screen's thread first.
BACKGROUND_NICE = 10


def _nice() -> int:
    env = os.environ.get("ONCOBOARD_DECODE_NICE", "")
    return int(env) if env.isdigit() else BACKGROUND_NICE


def _background_thread() -> None:
    """Lower this thread's CPU priority (Linux: per thread), so that the screen's thread wins
    the cores when both want them; alone, the decoders still use every core."""
    if _nice() and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid)
                           + _nice())


def decode_chunk_safe(jobs: list[FrameJob]) -> list[NDArray[Any] | str]:
    """Decode frames (in a pool worker); a frame that fails gives its message, not an error."""
    out: list[NDArray[Any] | str] = []
    for job in jobs:
        try:
            out.append(decode_frame(job))
        except DicomError as exc:
            out.append(exc.message)
    return out


def outward(k: int, n: int) -> Iterator[int]:
    """Yield 0..n-1 starting at `k`, then alternately above and below it (nearest first)."""
    k = int(np.clip(k, 0, max(n - 1, 0)))
    if n:
        yield k
    for d in range(1, n):
        if k + d < n:
            yield k + d
        if k - d >= 0:
            yield k - d


class ProgressiveSeries:
    """One stack of a local series whose slices are decoded in the background.

    Create it with `prepare` (None when the series is loaded whole instead). `volume` is the
    volume on screen from the start: its voxels are filled in place as slices are decoded
    (zeros until then: `ready` tells which are here; the viewer draws the others black). A
    series with gaps or resampled slices gets its final voxels array when complete.
    `state[slot]` is 0 (waiting), 1 (decoded) or 2 (failed) per frame.
    """

    def __init__(self, chosen: Any, stacks: Any, layout: Any, post: Any, where: str):
        self.where = where
        self.layout = layout
        self.records = [f.record for f in layout.frames]
        self.jobs = [_job(f.record, f.index) for f in layout.frames]
        first = layout.frames[0].record
        self._first, self._post = first, post
        self._mono1 = first.photometric == "MONOCHROME1"
        shape = (len(self.jobs), first.rows, first.columns)
        container = container_dtype(first.bits_allocated, bool(first.pixel_representation))
        # zeros: pages the kernel maps on first write (a fill would cost 0.2-0.6 s up front)
        self.raw = np.zeros(shape, container)
        self.state = np.zeros(shape[0], np.uint8)
        self.errors: list[str] = []
        self.decode_order: list[int] = []  # slots in the order their decoding started
        blended = any(len(src) > 1 for src in layout.sources)
        if layout.is_direct:
            voxels: NDArray[Any] = self.raw.view(np.int16)
        else:
            voxels = np.zeros((len(layout.sources), *shape[1:]),
                              np.float32 if blended else np.int16)
        self._users: dict[int, list[int]] = {}  # slot -> output slices made from it
        for k, src in enumerate(layout.sources):
            for i, _w in src:
                self._users.setdefault(i, []).append(k)
        warnings = list(layout.warnings)
        if self._mono1:
            warnings.append("MONOCHROME1 image inverted so that higher values are brighter")
        self.volume: Volume = _volume(voxels, layout, chosen, stacks, first, warnings,
                                      self._mono1)
        self.volume.meta["progressive"] = True
        self._lock = threading.Lock()
        self._wanted: deque[int] = deque()
        self._order: Iterator[int] = iter(())
        self._claimed = np.zeros(shape[0], bool)
        self.complete = False

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def prepare(cls, records: list[InstanceRecord], *, stack: int | None = None,
                where: str = "") -> ProgressiveSeries | None:
        """Lay out a series for progressive decoding; None when it is loaded whole instead
        (uncompressed, colour, few frames, values whose type needs the whole volume)."""
        chosen, stacks = pick_stack(records, stack, where)
        layout = layout_stack(chosen)
        frames = [f.record for f in layout.frames]
        if len(frames) < MIN_FRAMES or any(r.samples_per_pixel != 1 for r in frames):
            return None
        widths = {(r.bits_allocated, r.pixel_representation) for r in frames}
        if len(widths) != 1 or next(iter(widths))[0] != 16:
            return None  # 8- or 32-bit frames, or a mix (which `assemble` refuses itself)
        jobs = [_job(f.record, f.index) for f in layout.frames]
        if all(_is_native(j) for j in jobs):
            return None  # reading uncompressed frames is about as fast as showing one
        first = layout.frames[0].record
        slopes = np.array([f.geom.slope for f in layout.frames])
        intercepts = np.array([f.geom.intercept for f in layout.frames])
        probe = np.empty((0, 0, 0), container_dtype(16, bool(first.pixel_representation)))
        post = _inplace_rescaler(probe, first, slopes, intercepts,
                                 first.photometric == "MONOCHROME1")
        if post is None:
            return None  # int16 or float32 is chosen from every value: load it whole
        return cls(chosen, stacks, layout, post, where)

    def slots_of(self, k: int) -> list[int]:
        """Return the frame slots output slice `k` is made from."""
        return [i for i, _w in self.layout.sources[k]]

    def has_slice(self, k: int) -> bool:
        """Return True when output slice `k` is decoded (or failed: it will not change)."""
        slots = self.slots_of(k)
        return all(self.state[s] != _WAITING for s in slots) if slots else self.complete

    def ready(self) -> NDArray[np.bool_]:
        """Return, per output slice, whether it is decoded (or failed: it will not change)."""
        here: NDArray[np.bool_] = np.not_equal(self.state, _WAITING)
        if self.layout.is_direct:
            return here
        return np.array([all(here[i] for i, _w in src) if src else self.complete
                         for src in self.layout.sources], bool)  # a gap: filled at the end

    @property
    def missing(self) -> int:
        """Return how many frames are not decoded yet."""
        return int(np.count_nonzero(self.state == _WAITING))

    def first(self, k: int) -> None:
        """Decode output slice `k` (and, for a gap, its neighbours) now, on this thread."""
        n = len(self.layout.sources)
        k = int(np.clip(k, 0, n - 1))
        slots = self.slots_of(k)
        if not slots:  # a gap: the nearest slices with frames
            for j in outward(k, n):
                if self.slots_of(j):
                    slots = self.slots_of(j)
                    break
        for s in slots:
            if self.state[s] == _WAITING and not self._claimed[s]:
                self._claimed[s] = True
                self.decode_order.append(s)
                self._store(s, self._decode_one(s))
        with self._lock:
            self._order = self._slot_order(k)

    def want(self, k: int) -> None:
        """Decode output slice `k` next (the user scrolled to it); safe from any thread."""
        if not 0 <= k < len(self.layout.sources):
            return
        with self._lock:
            for s in reversed(self.slots_of(k)):
                if self.state[s] == _WAITING and not self._claimed[s]:
                    self._wanted.appendleft(s)

    def _slot_order(self, k: int) -> Iterator[int]:
        seen: set[int] = set()
        for j in outward(k, len(self.layout.sources)):
            for s in self.slots_of(j):
                if s not in seen:
                    seen.add(s)
                    yield s
        yield from (s for s in range(len(self.jobs)) if s not in seen)

    def _claim(self, size: int) -> list[int]:
        out: list[int] = []
        with self._lock:
            while len(out) < size:
                if self._wanted:
                    s = self._wanted.popleft()
                else:
                    s = next(self._order, -1)
                    if s < 0:
                        break
                if self.state[s] == _WAITING and not self._claimed[s]:
                    self._claimed[s] = True
                    out.append(s)
            self.decode_order.extend(out)
        return out

    # -- decoding the rest -------------------------------------------------------------------
    def run(self, *, progress: Progress | None = None, cancel: Cancel | None = None) -> Volume:
        """Decode every slice not decoded yet (nearest the first slice first), then finish the
        volume; return it.

        Raises
        ------
        LoadCancelled
            `cancel` returned True (decoded slices stay; `run` may be called again).
        """
        workers = pool_size()
        todo = [s for s in range(len(self.jobs)) if self.state[s] == _WAITING]
        threaded = workers >= 2 and all(_j2k_threaded(self.jobs[s]) for s in todo)
        try:
            if workers < 2 or not todo:
                self._run_here(progress, cancel)
            elif threaded:
                with ThreadPoolExecutor(workers, thread_name_prefix="oncoboard-decode",
                                        initializer=_background_thread) as ex:
                    self._run_on(lambda c: ex.submit(self._decode_many, c), 1, workers,
                                 progress, cancel)
            else:
                try:
                    pool = get_pool()
                    self._run_on(lambda c: pool.submit(decode_chunk_safe,
                                                       [self.jobs[s] for s in c]),
                                 POOL_CHUNK, workers, progress, cancel)
                except BrokenProcessPool:
                    log.warning("decoding pool broke; decoding in this process")
                    from oncoboard.imaging.pixels import shutdown_pool

                    shutdown_pool()
                    self._claimed[self.state == _WAITING] = False
                    with self._lock:
                        self._order = iter([int(s) for s in np.flatnonzero(
                            self.state == _WAITING)])
                    self._run_here(progress, cancel)
        except BaseException:
            self._claimed[self.state == _WAITING] = False  # a later run decodes them
            with self._lock:
                self._order = iter([int(s) for s in np.flatnonzero(self.state == _WAITING)])
            raise
        self._finish()
        return self.volume

    def _run_here(self, progress: Progress | None, cancel: Cancel | None) -> None:
        while chunk := self._claim(1):
            if cancel is not None and cancel():
                raise LoadCancelled("loading cancelled")
            self._store(chunk[0], self._decode_one(chunk[0]))
            self._report(progress)

    def _run_on(self, submit: Callable[[list[int]], Future[Any]], size: int, workers: int,
                progress: Progress | None, cancel: Cancel | None) -> None:
        running: dict[Future[Any], list[int]] = {}
        try:
            while True:
                if cancel is not None and cancel():
                    raise LoadCancelled("loading cancelled")
                while len(running) < 2 * workers and (chunk := self._claim(size)):
                    running[submit(chunk)] = chunk
                if not running:
                    return
                finished, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in finished:
                    chunk = running.pop(fut)
                    for s, result in zip(chunk, fut.result(), strict=True):
                        self._store(s, result)
                    self._report(progress)
        except BaseException:
            for fut in running:
                fut.cancel()
            raise

    def _decode_one(self, s: int) -> NDArray[Any] | str:
        return decode_chunk_safe([self.jobs[s]])[0]

    def _decode_many(self, chunk: list[int]) -> list[NDArray[Any] | str]:
        return decode_chunk_safe([self.jobs[s] for s in chunk])

    def _store(self, s: int, result: NDArray[Any] | str) -> None:
        """Put a decoded frame in place (rescaled as `assemble` does), or record its failure."""
        if isinstance(result, str):
            self.errors.append(result)
            log.warning("series %s: slice %d not decoded: %s", self.where, s + 1, result)
            self.state[s] = _FAILED
        elif result.shape != self.raw.shape[1:]:
            self.errors.append(DicomError(f"frame is {result.shape}, the series "
                                          f"{self.raw.shape[1:]}", file=self.jobs[s].path
                                          ).message)
            self.state[s] = _FAILED
        else:
            work = self.raw[s]
            work[...] = result
            self._post(s, work)
            self.state[s] = _DONE
        if not self.layout.is_direct:
            for k in self._users.get(s, []):
                self._make_slice(k)

    def _make_slice(self, k: int) -> None:
        src = self.layout.sources[k]
        if not all(self.state[i] == _DONE for i, _w in src):
            return
        voxels, raw = self.volume.voxels, self.raw.view(np.int16)
        if len(src) == 1:
            voxels[k] = raw[src[0][0]]
        else:
            (i, wi), (j, wj) = src
            voxels[k] = raw[i].astype(np.float32) * wi + raw[j].astype(np.float32) * wj

    def _report(self, progress: Progress | None) -> None:
        if progress is not None:
            total = len(self.jobs)
            done = total - self.missing
            progress(done, total, f"{done} of {total} slices decoded")

    def _finish(self) -> None:
        """Make the volume exactly what `assemble` returns (blank failed slices excepted)."""
        raw = self.raw.view(np.int16)
        good = self.state == _DONE
        if self.errors:
            fill = raw[good].min() if good.any() else np.int16(0)
            raw[~good] = fill
            self.volume.warnings.append(
                f"{len(self.errors)} slice(s) could not be decoded and are shown blank: "
                f"{self.errors[0]}")
        if not self.layout.is_direct:
            self.volume.voxels = _apply_sources(raw, self.layout)
        first, g0 = self._first, self.layout.frames[0].geom
        self.volume.window_presets = _windows(self.volume.voxels, self.records,
                                              first.modality, self._mono1, first, g0.slope,
                                              g0.intercept)
        self.complete = True


def open_local(store: Store, series_uid: str, *, visible: int | None = None,
               stack: int | None = None, settings: Settings | None = None,
               use_cache: bool = True, progress: Progress | None = None,
               cancel: Cancel | None = None) -> tuple[ProgressiveSeries | None, Volume, Any]:
    """Open an indexed series for viewing: a compressed one with slice `visible` decoded
    (default the middle; -1 for none yet), the rest left to ``series.run()``.

    Returns ``(series, volume, cache_put)``: `series` None when the volume is complete (from
    the cache, uncompressed, or loaded whole); ``cache_put()`` stores the completed volume in
    the volume cache (call it after `run`).
    """
    from oncoboard.imaging.assemble import assemble
    from oncoboard.imaging.cache import VolumeCache
    from oncoboard.imaging.index import get_series, series_records
    from oncoboard.imaging.loader import _fresh, cache_for

    get_series(store, series_uid)
    records = _fresh(store, series_records(store, series_uid), series_uid)
    cache = cache_for(store, settings) if use_cache else None
    key = VolumeCache.key(series_uid, stack, [(r.path, r.size, r.mtime_ns) for r in records])
    if cache is not None and (hit := cache.get(key)) is not None:
        log.info("series %s: from cache", series_uid)
        return None, hit, lambda: None
    series = ProgressiveSeries.prepare(records, stack=stack, where=series_uid)
    if series is None:  # what `load_series` does past its cache look-up
        volume = assemble(records, stack=stack, progress=progress, cancel=cancel,
                          where=series_uid)
        if cache is not None:
            cache.put(key, volume)
        return None, volume, lambda: None
    if visible is None or visible >= 0:
        series.first(series.volume.shape[0] // 2 if visible is None else visible)

    def cache_put() -> None:
        if cache is not None and series.complete and not series.errors:
            cache.put(key, series.volume)

    return series, series.volume, cache_put
