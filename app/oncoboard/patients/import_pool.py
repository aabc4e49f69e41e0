"""Import many patient-record files in order, read in parallel by a pool of processes.

Moved from :mod:`oncoboard.patients.importer` unchanged. :func:`import_files` imports files in
order, each in its own transaction (:func:`~oncoboard.patients.importer.import_file`); with
workers, the files are read and validated by a pool of processes (started from
:mod:`oncoboard.patients.import_worker`) while this process writes them, in order.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.errors import OncoboardError, RecordImportError
from oncoboard.patients.importer import Batch, ImportReport, import_file, read_file, write_batch

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)


_worker_store: Store | None = None


#: Import files here while the pool starts (tests turn it off to exercise the pool).
_READ_WHILE_STARTING = True
#: Files read ahead of the writer, per reading process (bounds memory, absorbs jitter).
_IN_FLIGHT_PER_WORKER = 4
#: Files queued per pool process: this process, between its writes, only reads what the pool
#: has not started (2 queued per process left the pool idle while this one read: 20 % slower).
_QUEUED_PER_WORKER = 4


def _store_in_worker(db_path: str) -> Store:
    global _worker_store
    if _worker_store is None:
        from typing import cast

        from oncoboard.patients.import_worker import ReadOnlyRecord

        # reading needs a few SELECTs, never a write: a read-only connection, without the
        # store's library (its imports cost each process half a second)
        _worker_store = cast("Store", ReadOnlyRecord(db_path))
    return _worker_store


def _worker_ready(db_path: str) -> bool:
    """Open the store in a pool process; its result means the pool has started."""
    return _store_in_worker(db_path) is not None


def _die_with_parent(parent: int) -> None:
    """Make this pool process exit when the importing process `parent` ends, even by kill -9.

    The pool's processes are forked by the fork server, not by `parent`, and each keeps the
    fork server and the resource tracker alive: without this, all of them outlived a killed
    import. Once the readers exit, the fork server and the tracker see their pipes close and
    exit too (the tracker removing the semaphores left in /dev/shm).
    """
    if sys.platform == "win32":  # no fork server there; the pool's own checks apply
        return
    try:  # SIGKILL from the kernel when the fork server dies (Linux)
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    try:
        fd: int | None = os.pidfd_open(parent)  # readable once `parent` has ended
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # not Linux 5.3+: poll
        fd = None

    def watch() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:
            while _alive(parent):
                time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="watch-importer", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds the number
        return False
    return True


def _start_pool(pool: Any, db_path: str, ready: Any) -> None:
    """Start the pool's processes; set `ready` when one has opened the store."""
    try:
        ready.set_result(pool.submit(_worker_ready, db_path).result())
    except Exception as exc:  # noqa: BLE001 - handed to the importing thread
        ready.set_exception(exc)


def _read_in_worker(db_path: str, path: str) -> Batch | None:
    """Read one file in a pool process; None means "read it again in the writer"."""
    return _read_here(_store_in_worker(db_path), Path(path))


#: Below this many files a pool costs more than it saves (its start-up and shut-down). Measured
#: on 2 CPUs with bundles of 50 resources (tests/bench/bench_import.py --breakeven): 50 files
#: 0.40x the speed without it, 100 files 0.92-1.04x, 200 files 1.21-1.36x, 800 files 1.6-1.95x.
AUTO_WORKERS_MIN_FILES = 200
#: Modules the pool's processes start with (imported once, in the fork server).
_WORKER_PRELOAD = ["oncoboard.patients.import_worker"]


def auto_workers(n_files: int) -> int:
    """Return the number of reading processes worth starting for `n_files` files (0: none)."""
    if n_files < AUTO_WORKERS_MIN_FILES:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may use (containers)
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    # this process reads too, between the writes: one other process per other CPU
    return max(0, min(cpus - 1, 8))


def import_files(store: Store, paths: list[Path], workers: int | None = None,
                 on_error: Callable[[Path, OncoboardError], None] | None = None
                 ) -> Iterator[ImportReport]:
    """Import files in order, each in its own transaction; yield one report per file.

    Parameters
    ----------
    workers
        With ``workers > 0`` (and a store on disk), files are read and validated in that many
        processes while this process writes them, in order (and reads files too, between its
        writes). At most ``4 * (workers + 1)`` files are in flight, so memory does not grow
        with the number of files; if the processes die, the remaining files are read here. A
        file that fails in a worker, or whose reads of the stored record changed since
        (:meth:`Batch.query`), is read again here after the files before it are written, so
        the result is exactly that of the sequential case. None (the default) chooses with
        :func:`auto_workers`; 0 reads in this process.
    on_error
        Called with the file and the error of each file that cannot be imported, and the
        import goes on with the next file (the app's import dialog). Without it, the first
        such file raises.

    Raises
    ------
    RecordImportError
        At the first file that cannot be imported (the files before it stay imported), when
        there is no `on_error`.
    """
    paths = [Path(p) for p in paths]
    if workers is None:
        workers = auto_workers(len(paths))
    for path, report in _import_files(store, paths, workers):
        if isinstance(report, ImportReport):
            yield report
        elif on_error is None:
            raise report
        else:
            on_error(path, report)


def _import_files(store: Store, paths: list[Path], workers: int
                  ) -> Iterator[tuple[Path, ImportReport | OncoboardError]]:
    """Import files in order; yield (file, its report or the error that refused it)."""
    def attempt(path: Path, work: Callable[[], ImportReport]
                ) -> tuple[Path, ImportReport | OncoboardError]:
        try:
            return path, work()
        except OncoboardError as exc:
            return path, exc

    if workers <= 0 or store.path is None or len(paths) < 2:
        for path in paths:
            yield attempt(path, partial(import_file, store, path))
        return
    import concurrent.futures as cf
    import multiprocessing as mp
    from collections import deque

    # forkserver: the workers do not inherit this process's open SQLite connection (nor, in
    # the app, Qt's threads); they start from a server that has imported the readers once
    methods = mp.get_all_start_methods()
    context = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(_WORKER_PRELOAD)  # no effect once a server runs
    log.info("reading %d files in this process and %d others", len(paths), workers)
    queue, slots = deque(paths), deque[_Slot]()
    window = _IN_FLIGHT_PER_WORKER * (workers + 1)
    with cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent,
                                initargs=(os.getpid(),)) as pool:
        # starting the processes takes about a second, and submit() waits for it: a thread
        # starts them while this one imports the first files itself
        ready: cf.Future[bool] = cf.Future()
        starter = threading.Thread(target=_start_pool, args=(pool, str(store.path), ready),
                                   name="import-pool-start", daemon=True)
        starter.start()
        while _READ_WHILE_STARTING and queue and not ready.done():
            path = queue.popleft()
            yield attempt(path, partial(import_file, store, path))
        starter.join()
        if ready.exception() is not None:
            log.warning("the reading processes did not start (%s); reading here",
                        ready.exception())
            pool.shutdown(cancel_futures=True)
        while ready.exception() is None and (queue or slots):
            # keep every pool process busy with a few files queued
            busy = sum(1 for slot in slots if slot.future is not None and not slot.future.done())
            while queue and busy < _QUEUED_PER_WORKER * workers and len(slots) < window:
                nxt = queue.popleft()
                slots.append(_Slot(nxt, pool.submit(_read_in_worker, str(store.path),
                                                    str(nxt))))
                busy += 1
            head = slots[0]
            if (head.future is not None and not head.future.done() and queue
                    and len(slots) < window):
                # rather than wait for the next file to write, read one more here
                nxt = queue.popleft()
                slots.append(_Slot(nxt, None, _read_here(store, nxt)))
                continue
            slots.popleft()
            try:
                batch = head.batch if head.future is None else head.future.result()
            except cf.process.BrokenProcessPool:  # a reading process was killed (memory?)
                log.warning("the reading processes stopped; reading the other %d files here",
                            1 + len(slots) + len(queue))
                queue.extendleft(reversed([head.path, *(slot.path for slot in slots)]))
                slots.clear()
                break
            yield attempt(head.path, partial(_write_in_turn, store, head.path, batch))
    for path in queue:  # left by a broken pool
        yield attempt(path, partial(import_file, store, path))


def _write_in_turn(store: Store, path: Path, batch: Batch | None) -> ImportReport:
    """Write a file read ahead of its turn, reading it again if that read is out of date."""
    if batch is None or not batch.reads_still_hold(store):  # see Batch.query
        batch = read_file(store, path)
    return write_batch(store, batch)


@dataclass
class _Slot:
    """A file of a parallel import: read by a pool process (`future`) or here (`batch`)."""

    path: Path
    future: Any = None
    batch: Batch | None = None


def _read_here(store: Store, path: Path) -> Batch | None:
    """Read a file ahead of its turn (here or in a pool process); None: read it again then."""
    try:
        return read_file(store, path)
    except RecordImportError:  # may depend on a file before it: decided at its turn
        return None
