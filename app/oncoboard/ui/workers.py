"""Background work: run a core function on the thread pool, with progress, cancel and errors.

The GUI thread never reads files, runs models or talks to a PACS. A :class:`Task` wraps a plain
function ``fn(job, *args)``; ``job`` gives it ``progress(fraction, message)`` and a
``cancel_event`` (a :class:`threading.Event`) that core APIs accept. Results and exceptions come
back as queued Qt signals on the GUI thread.

SQLite connections belong to the thread that opened them: a task that needs the database opens
its own store (``open_store(settings.store_target)``) and closes it before returning.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class CancelledError(Exception):
    """Raised inside a task when the user asked to cancel it."""


class TaskSignals(QObject):
    """Signals a task sends back to the GUI thread."""

    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal()


class Task(QRunnable):
    """One background job.

    Parameters
    ----------
    fn
        Called as ``fn(task, *args, **kwargs)`` on a pool thread; its return value is emitted by
        ``signals.succeeded``.
    name
        Shown in logs.
    """

    _alive: set[Task] = set()

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "task", **kwargs: Any):
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.args, self.kwargs, self.name = fn, args, kwargs, name
        self.signals = TaskSignals()
        self.cancel_event = threading.Event()
        self.done = threading.Event()
        #: Called by cancel(), e.g. to stop a core job (onnxruntime run) at once.
        self.cancel_hooks: list[Callable[[], Any]] = []

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress (0-1) and raise :class:`CancelledError` if cancel was asked."""
        if self.cancel_event.is_set():
            raise CancelledError(self.name)
        self.signals.progressed.emit(float(fraction), str(message))

    def cancel(self) -> None:
        """Ask the task to stop at its next progress report."""
        self.cancel_event.set()
        for hook in list(self.cancel_hooks):
            hook()

    def run(self) -> None:  # runs on the pool thread
        try:
            result = self.fn(self, *self.args, **self.kwargs)
        except CancelledError:
            log.info("%s cancelled", self.name)
            self.signals.cancelled.emit()
        except Exception as exc:  # handed to the GUI's error boundary
            if self.cancel_event.is_set():
                self.signals.cancelled.emit()
            else:
                log.debug("%s failed", self.name, exc_info=True)
                self.signals.failed.emit(exc)
        else:
            if self.cancel_event.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.succeeded.emit(result)
        finally:
            self.done.set()
            self.signals.finished.emit()


def while_alive(owner: Any, fn: Callable[..., Any]) -> Callable[..., None]:
    """`fn`, called only while the Qt object `owner` exists.

    For callbacks that cannot be bound methods (closures over a dialog): a task may end after
    its dialog was closed and deleted, and touching the dialog's widgets then raises."""
    import shiboken6

    def call(*args: Any) -> None:
        if shiboken6.isValid(owner):
            fn(*args)
    return call


def start(task: Task, *, on_done: Callable[[Any], None] | None = None,
          on_error: Callable[[BaseException], object] | None = None,
          on_progress: Callable[[float, str], None] | None = None) -> Task:
    """Connect the callbacks and run `task` on the global thread pool; return it."""
    if on_done is not None:
        task.signals.succeeded.connect(on_done)
    if on_error is not None:
        task.signals.failed.connect(on_error)
    if on_progress is not None:
        task.signals.progressed.connect(on_progress)
    Task._alive.add(task)  # keep the Python object (and its signals) alive until it ends
    task.signals.finished.connect(lambda: Task._alive.discard(task))
    QThreadPool.globalInstance().start(task)
    return task


def wait_all(timeout_ms: int = 30000) -> bool:
    """Wait for every running task (used at exit and in tests); return True if all ended."""
    for task in list(Task._alive):
        task.cancel()
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
