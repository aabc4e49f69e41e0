"""Read and decode the pixels of ordered frames into one preallocated array.

Uncompressed frames (little or big endian, explicit or implicit VR) are read straight from the
file offset the index recorded into the output array: no header is parsed again, which is what
makes loading a 400-slice CT close to the speed of reading its bytes. Compressed frames are
decoded by pydicom's decoder plugins (imagecodecs for JPEG via `jpeg_decoder`, pylibjpeg-openjpeg
for JPEG 2000, pyjpegls for JPEG-LS: the fastest here, pylibjpeg-rle for RLE) in a
pool of processes started with forkserver/spawn, never fork (the app is a Qt app); pydicom's
header parsing and those decoders hold the GIL, so threads would not help. Grey JPEG 2000
frames are the exception: imagecodecs' OpenJPEG (as fast as pylibjpeg-openjpeg) releases the
GIL, so they decode on threads of this process (no pool to start, no frame copied back through
a pipe; 0.9x SimpleITK's time and 40 % less memory than the pool for a 400-slice CT on 2
cores). Deflated files and colour images go through pydicom's full reader.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.errors import DicomError
from oncoboard.imaging import jpeg_decoder

log = logging.getLogger(__name__)

NATIVE_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
BIG_ENDIAN = "1.2.840.10008.1.2.2"
JPEG_LS_SYNTAXES = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
J2K_SYNTAXES = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
POOL_MIN_FRAMES = 8
_FRAMES_PER_TASK = 8


class LoadCancelled(DicomError):
    """The user cancelled a load."""


@dataclass(frozen=True)
class FrameJob:
    """Where one frame's pixels are and how they are encoded (picklable for the pool)."""

    path: str
    offset: int | None
    length: int | None
    transfer_syntax: str
    frame: int
    n_frames: int
    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    planar: int


def container_dtype(bits_allocated: int, signed: bool) -> np.dtype[Any]:
    """Return the numpy dtype that holds one stored sample."""
    if bits_allocated == 1:
        return np.dtype(np.uint8)  # 1-bit (SEG) frames arrive unpacked from pydicom
    if bits_allocated not in (8, 16, 32):
        raise DicomError(f"BitsAllocated {bits_allocated} is not supported for images")
    return np.dtype(f"{'i' if signed else 'u'}{bits_allocated // 8}")


def syntax_name(uid: str) -> str:
    """Return a transfer syntax's name, e.g. 'JPEG 2000 Image Compression'."""
    from pydicom.uid import UID

    return f"{UID(uid).name} ({uid})" if UID(uid).is_valid else uid


PostFn = Callable[[int, NDArray[Any]], None]
_READ_THREADS = 2
_READ_CHUNK = 32


def read_frames(jobs: Sequence[FrameJob], out: NDArray[Any], *,
                progress: Callable[[int, int, str], None] | None = None,
                cancel: Callable[[], bool] | None = None, post: PostFn | None = None) -> None:
    """Fill ``out[k]`` (container dtype) with the stored values of ``jobs[k]``.

    Signed values narrower than their container are sign-extended and unused high bits
    cleared. Colour frames are converted to luminance (``out`` must then be float32).
    ``post(k, out[k])``, if given, runs on each frame right after it is filled, while it is
    still in the CPU cache (the rescale goes there: one pass over memory instead of three).
    Uncompressed frames are read by two threads: the copy from the page cache and numpy's
    loops release the GIL.
    """
    native = [k for k, j in enumerate(jobs) if _is_native(j)]
    other = [k for k, j in enumerate(jobs) if not _is_native(j)]
    total, done = len(jobs), 0

    def read_chunk(chunk: list[int]) -> int:
        for k in chunk:
            if cancel is not None and cancel():
                raise LoadCancelled("loading cancelled")
            _read_native(jobs[k], out[k])
            if post is not None:
                post(k, out[k])
        return len(chunk)

    chunks = [native[i:i + _READ_CHUNK] for i in range(0, len(native), _READ_CHUNK)]
    if len(chunks) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(_READ_THREADS) as threads:
            for n in threads.map(read_chunk, chunks):
                done += n
                if progress is not None:
                    progress(done, total, "reading slices")
    elif chunks:
        done += read_chunk(chunks[0])
    if other:
        _decode_many(jobs, other, out, done, total, progress, cancel, post)
    if progress is not None:
        progress(total, total, "slices read")


def _is_native(job: FrameJob) -> bool:
    return (job.transfer_syntax in NATIVE_SYNTAXES and job.offset is not None
            and job.samples == 1 and job.bits_allocated in (8, 16, 32))


def _read_native(job: FrameJob, dest: NDArray[Any]) -> None:
    nbytes = job.rows * job.columns * job.bits_allocated // 8
    assert job.offset is not None
    try:
        with open(job.path, "rb", buffering=0) as f:
            f.seek(job.offset + job.frame * nbytes)
            view = dest.data.cast("B") if dest.flags.c_contiguous else None
            if view is not None and dest.dtype.itemsize * 8 == job.bits_allocated:
                got = f.readinto(view)
            else:
                raw = f.read(nbytes)
                got = len(raw)
                dest[...] = np.frombuffer(raw, dtype=container_dtype(
                    job.bits_allocated, job.signed)).reshape(dest.shape)
    except OSError as exc:
        raise DicomError(f"cannot read pixels: {exc.strerror or exc}", file=job.path) from exc
    if got != nbytes:
        raise DicomError(f"pixel data truncated ({got} of {nbytes} bytes)", file=job.path)
    if job.transfer_syntax == BIG_ENDIAN and job.bits_allocated > 8:
        dest.byteswap(inplace=True)
    fix_bits(dest, job.bits_stored, job.bits_allocated, job.signed)


def fix_bits(arr: NDArray[Any], bits_stored: int, bits_allocated: int, signed: bool) -> None:
    """Sign-extend or mask, in place, values stored in fewer bits than their container."""
    if not 0 < bits_stored < bits_allocated:
        return
    shift = bits_allocated - bits_stored
    if signed:
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)
    else:
        np.bitwise_and(arr, (1 << bits_stored) - 1, out=arr)


def decode_frame(job: FrameJob) -> NDArray[Any]:
    """Decode one frame with pydicom's decoders; return its stored values (or luminance)."""
    jpeg_decoder.register()  # once per process (pool workers included)
    try:
        if (job.offset is None or job.transfer_syntax in NATIVE_SYNTAXES
                or job.transfer_syntax not in _pixel_decoder_syntaxes()):
            return _decode_with_dataset(job)
        return _decode_buffer(job)
    except DicomError:
        raise
    except Exception as exc:
        raise DicomError(f"cannot decode {syntax_name(job.transfer_syntax)} frame {job.frame}: "
                         f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                         file=job.path) from exc


def _pixel_decoder_syntaxes() -> set[str]:
    from pydicom.pixels.decoders.base import _PIXEL_DATA_DECODERS

    return {str(u) for u in _PIXEL_DATA_DECODERS} - {"1.2.840.10008.1.2.1.99"}


def _decode_buffer(job: FrameJob) -> NDArray[Any]:
    from pydicom.pixels.decoders.base import get_decoder

    assert job.offset is not None
    with open(job.path, "rb") as f:
        f.seek(job.offset)
        buf = f.read() if job.length is None else f.read(job.length)
    if job.transfer_syntax in JPEG_LS_SYNTAXES and not job.signed and job.samples == 1:
        fast = _decode_jpeg_ls(buf, job)
        if fast is not None:
            return fast
    if job.transfer_syntax in J2K_SYNTAXES and job.samples == 1:
        fast = _decode_j2k(buf, job)
        if fast is not None:
            return fast
    decoder = get_decoder(job.transfer_syntax)
    if not decoder.is_available:
        raise DicomError(f"no decoder installed for {syntax_name(job.transfer_syntax)} "
                         f"({'; '.join(decoder.missing_dependencies) or 'unsupported'})",
                         file=job.path)
    plugin = "pyjpegls" if "pyjpegls" in decoder.available_plugins else ""
    opts: dict[str, Any] = {
        "rows": job.rows, "columns": job.columns, "samples_per_pixel": job.samples,
        "bits_allocated": job.bits_allocated, "bits_stored": job.bits_stored,
        "pixel_representation": int(job.signed), "photometric_interpretation": job.photometric,
        "number_of_frames": job.n_frames, "planar_configuration": job.planar,
        "pixel_keyword": "PixelData"}
    arr, _ = decoder.as_array(buf, index=job.frame, decoding_plugin=plugin, **opts)
    return _to_gray(arr, job)


def _decode_jpeg_ls(buf: bytes, job: FrameJob) -> NDArray[Any] | None:
    """Decode an unsigned JPEG-LS frame with CharLS directly (pydicom's wrapper costs ~15 %)."""
    try:
        import jpeg_ls
        from pydicom.encaps import get_frame
    except ImportError:
        return None
    frame = get_frame(buf, job.frame, number_of_frames=job.n_frames)
    data, info = jpeg_ls.decode_pixel_data(frame)
    dtype = np.uint8 if job.bits_allocated == 8 else np.dtype("<u2")
    arr = np.frombuffer(data, dtype=dtype)
    if arr.size != job.rows * job.columns or info.get("components", 1) != 1:
        return None  # let pydicom handle anything unexpected
    return arr.reshape(job.rows, job.columns)


def _j2k_threaded(job: FrameJob) -> bool:
    """Whether a frame is decoded by OpenJPEG through imagecodecs, which releases the GIL."""
    return (job.transfer_syntax in J2K_SYNTAXES and job.samples == 1 and job.offset is not None
            and _imagecodecs_j2k() is not None)


def _imagecodecs_j2k() -> Any:
    global _J2K
    if _J2K is None:
        try:
            from imagecodecs import jpeg2k_decode
        except ImportError:
            _J2K = False
        else:
            _J2K = jpeg2k_decode
    return _J2K or None


_J2K: Any = None


def _decode_j2k(buf: bytes, job: FrameJob) -> NDArray[Any] | None:
    """Decode a grey JPEG 2000 frame with imagecodecs' OpenJPEG (pylibjpeg-openjpeg's speed,
    without the GIL: frames decode on several threads of this process). None when the
    codestream disagrees with the header (sign, size, depth): pydicom then corrects it."""
    decode = _imagecodecs_j2k()
    if decode is None:
        return None
    from pydicom.encaps import get_frame

    frame = get_frame(buf, job.frame, number_of_frames=job.n_frames)
    try:
        arr = decode(frame, numthreads=1)
    except Exception:  # noqa: BLE001 - pydicom's decoder reports it, with its own words
        return None
    if (arr.shape != (job.rows, job.columns) or arr.dtype.kind not in "iu"
            or (arr.dtype.kind == "i") != job.signed
            or arr.dtype.itemsize * 8 > job.bits_allocated):
        return None
    return np.asarray(arr)


def _decode_with_dataset(job: FrameJob) -> NDArray[Any]:
    import pydicom
    from pydicom.pixels.utils import pixel_array

    ds = pydicom.dcmread(job.path, force=True)
    if "PixelData" not in ds:
        raise DicomError("no pixel data", file=job.path)
    ts = ds.file_meta.TransferSyntaxUID if "TransferSyntaxUID" in ds.file_meta else None
    if ts is not None and ts.is_compressed and ts not in _pixel_decoder_syntaxes():
        raise DicomError(f"no decoder for transfer syntax {syntax_name(str(ts))}",
                         file=job.path)
    arr = pixel_array(ds, index=job.frame if job.n_frames > 1 else None)
    return _to_gray(arr, job)


def _to_gray(arr: NDArray[Any], job: FrameJob) -> NDArray[Any]:
    """Return the luminance of a colour frame (pydicom's decoders already return RGB)."""
    if job.samples == 1:
        return arr
    rgb = arr.astype(np.float32)
    return np.asarray(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114,
                      dtype=np.float32)


def decode_chunk(jobs: list[FrameJob]) -> list[NDArray[Any]]:
    """Decode several frames (runs in a pool worker)."""
    return [decode_frame(j) for j in jobs]


def _decode_many(jobs: Sequence[FrameJob], indices: list[int], out: NDArray[Any], done: int,
                 total: int, progress: Callable[[int, int, str], None] | None,
                 cancel: Callable[[], bool] | None, post: PostFn | None) -> None:
    workers = pool_size()
    if workers >= 2 and len(indices) >= 2 and all(_j2k_threaded(jobs[k]) for k in indices):
        _decode_in_threads(jobs, indices, out, done, total, progress, cancel, post, workers)
        return
    if len(indices) < POOL_MIN_FRAMES or workers < 2:
        for k in indices:
            if cancel is not None and cancel():
                raise LoadCancelled("loading cancelled")
            out[k] = decode_frame(jobs[k])
            if post is not None:
                post(k, out[k])
            done += 1
            if progress is not None:
                progress(done, total, "decoding slices")
        return
    try:
        _decode_in_pool(jobs, indices, out, done, total, progress, cancel, post, workers)
    except BrokenProcessPool:
        # A worker died (out of memory, or a host whose main module cannot be re-imported):
        # finish in this process rather than fail the load.
        log.warning("decoding pool broke; decoding in the main process")
        shutdown_pool()
        for k in indices:
            if cancel is not None and cancel():
                raise LoadCancelled("loading cancelled") from None
            out[k] = decode_frame(jobs[k])
            if post is not None:
                post(k, out[k])


def _decode_in_pool(jobs: Sequence[FrameJob], indices: list[int], out: NDArray[Any], done: int,
                    total: int, progress: Callable[[int, int, str], None] | None,
                    cancel: Callable[[], bool] | None, post: PostFn | None,
                    workers: int) -> None:
    pool = get_pool()
    per_task = max(1, min(_FRAMES_PER_TASK, len(indices) // (workers * 4) or 1))
    chunks = [indices[i:i + per_task] for i in range(0, len(indices), per_task)]
    # A deque, emptied as results arrive: a Future keeps its result (decoded frames) alive
    # for as long as it is referenced, which would double the peak memory.
    futures: deque[tuple[list[int], Future[list[NDArray[Any]]]]] = deque(
        (c, pool.submit(decode_chunk, [jobs[k] for k in c])) for c in chunks)
    try:
        while futures:
            if cancel is not None and cancel():
                raise LoadCancelled("loading cancelled")
            chunk, fut = futures.popleft()
            frames = fut.result()
            del fut
            for k, arr in zip(chunk, frames, strict=True):
                out[k] = arr
                if post is not None:
                    post(k, out[k])
            del frames
            done += len(chunk)
            if progress is not None:
                progress(done, total, "decoding slices")
    except BaseException:
        for _, pending in futures:
            pending.cancel()
        raise


def _decode_in_threads(jobs: Sequence[FrameJob], indices: list[int], out: NDArray[Any],
                       done: int, total: int, progress: Callable[[int, int, str], None] | None,
                       cancel: Callable[[], bool] | None, post: PostFn | None,
                       workers: int) -> None:
    """Decode frames whose decoder releases the GIL on threads of this process: no pool to
    start, no frame sent back through a pipe, no worker holding a copy."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    def work(k: int) -> tuple[int, NDArray[Any]]:
        if cancel is not None and cancel():
            raise LoadCancelled("loading cancelled")
        return k, decode_frame(jobs[k])

    with ThreadPoolExecutor(workers, thread_name_prefix="oncoboard-decode") as threads:
        todo = deque(indices)
        running: set[Future[tuple[int, NDArray[Any]]]] = set()
        try:
            while todo or running:
                while todo and len(running) < 2 * workers:  # a few frames ahead, not all
                    running.add(threads.submit(work, todo.popleft()))
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    k, arr = fut.result()
                    out[k] = arr
                    del arr
                    if post is not None:
                        post(k, out[k])
                    done += 1
                    if progress is not None:
                        progress(done, total, "decoding slices")
                if cancel is not None and cancel():
                    raise LoadCancelled("loading cancelled")
        except BaseException:
            todo.clear()
            for pending in running:
                pending.cancel()
            raise


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool_size() -> int:
    """Return the number of decoding processes (ONCOBOARD_DECODE_WORKERS, else the CPU count)."""
    env = os.environ.get("ONCOBOARD_DECODE_WORKERS")
    if env and env.isdigit():
        return max(1, int(env))
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else (os.cpu_count() or 1), 8))


def get_pool() -> ProcessPoolExecutor:
    """Return the shared decoding pool, starting it (forkserver or spawn) on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            if ctx.get_start_method() == "forkserver":
                ctx.set_forkserver_preload(["oncoboard.imaging.pixels", "pydicom.pixels"])
            _pool = ProcessPoolExecutor(max_workers=pool_size(), mp_context=ctx)
        return _pool


@atexit.register
def shutdown_pool() -> None:
    """Stop the decoding pool (also done at exit)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None
