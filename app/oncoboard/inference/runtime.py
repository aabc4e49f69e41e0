"""onnxruntime sessions: one per model, on the best available provider, off the caller's thread.

Providers come from ``settings.providers`` (e.g. CUDA then CPU), filtered by what the installed
onnxruntime offers; CPU is always the last resort. The provider that really runs is read back from
the session (``session.get_providers()[0]``: onnxruntime-gpu lists CUDA even where it then falls
back) and recorded with each prediction. A session that fails to start, or a run that fails, on a
GPU provider is retried on CPU with a warning.

CPU results are deterministic: sessions use ``use_deterministic_compute`` and a fixed number of
intra-op threads (1 for small models; a fixed count for large ones), so the same inputs give
bit-identical outputs on the same machine.

:func:`submit` runs a job on a small thread pool and returns a :class:`Job` with progress and
cancellation (a cancelled job stops between items and terminates the running session call).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncoboard.errors import InferenceError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
LARGE_MODEL_BYTES = 5 * 1024 * 1024


@dataclass
class ModelSession:
    """An open onnxruntime session and how it was made."""

    session: Any
    provider: str                  # provider actually running the graph
    requested: tuple[str, ...]     # providers asked for, in order
    warnings: list[str] = field(default_factory=list)   # failures: shown with each result
    notes: list[str] = field(default_factory=list)      # requested but not installed


def load_onnxruntime() -> Any:
    """Import onnxruntime with its telemetry off; every session must be made through this.

    onnxruntime can queue usage events (model names, error texts, a device id) for Microsoft;
    no data leaves the machine, so they are disabled before the first session (and by
    ``ORT_DISABLE_TELEMETRY``, set when oncoboard is imported, before onnxruntime's import).
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    global _telemetry_off
    if not _telemetry_off:
        disable = getattr(ort, "disable_telemetry_events", None)
        if disable is not None:
            disable()
        _telemetry_off = True
    return ort


_telemetry_off = False


def available_providers() -> list[str]:
    """Return the providers the installed onnxruntime offers."""
    ort = load_onnxruntime()

    return list(ort.get_available_providers())


def choose_providers(requested: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return (providers to use, notes on requested providers not installed), CPU last."""
    available = available_providers()
    use = [p for p in requested if p in available and p != CPU]
    warnings = [f"{p} is not available in this onnxruntime; using "
                f"{use[0] if use else 'CPU'}" for p in requested
                if p not in available and p != CPU]
    return [*use, CPU], warnings


def _options(model_path: Path) -> Any:
    ort = load_onnxruntime()

    # A GPU build without CUDA libraries logs its failed provider load on stderr; the fallback is
    # reported in each prediction's provider notes instead.
    ort.set_default_logger_severity(4)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.use_deterministic_compute = True
    big = model_path.stat().st_size > LARGE_MODEL_BYTES
    opts.intra_op_num_threads = min(4, os.cpu_count() or 1) if big else 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return opts


def create_session(model_path: Path, providers: Sequence[str]) -> ModelSession:
    """Open `model_path` on the first working provider of `providers` (CPU as the fallback)."""
    ort = load_onnxruntime()

    use, notes = choose_providers(providers)
    warnings: list[str] = []
    try:
        session = ort.InferenceSession(str(model_path), sess_options=_options(model_path),
                                       providers=use)
    except Exception as exc:
        if use == [CPU]:
            raise InferenceError(f"cannot open the model: {str(exc)[:300]}",
                                 file=model_path) from exc
        warnings.append(f"{use[0]} failed to start ({str(exc)[:120]}); running on CPU")
        log.warning("session on %s failed for %s: %s; CPU fallback", use[0], model_path, exc)
        try:
            session = ort.InferenceSession(str(model_path), sess_options=_options(model_path),
                                           providers=[CPU])
        except Exception as exc2:
            raise InferenceError(f"cannot open the model: {str(exc2)[:300]}",
                                 file=model_path) from exc2
    actual = session.get_providers()[0]
    if use[0] != CPU and actual == CPU and not any("running on CPU" in w for w in warnings):
        warnings.append(f"{use[0]} requested but onnxruntime runs the model on CPU")
    return ModelSession(session, actual, tuple(providers), warnings, notes)


class SessionCache:
    """Sessions by (model file, sha256, providers); thread-safe."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str, tuple[str, ...]], ModelSession] = {}
        self._lock = threading.Lock()

    def get(self, model_path: Path, sha256: str, providers: Sequence[str]) -> ModelSession:
        """Return the cached session, creating it on first use."""
        key = (str(model_path), sha256, tuple(providers))
        with self._lock:
            found = self._sessions.get(key)
        if found is not None:
            return found
        made = create_session(model_path, providers)
        with self._lock:
            return self._sessions.setdefault(key, made)

    def replace_with_cpu(self, model_path: Path, sha256: str, providers: Sequence[str],
                         reason: str) -> ModelSession:
        """Swap a failing GPU session for a CPU one, remembering why."""
        made = create_session(model_path, [CPU])
        made.warnings.append(f"{reason}; running on CPU")
        made.requested = tuple(providers)
        with self._lock:
            self._sessions[(str(model_path), sha256, tuple(providers))] = made
        return made

    def clear(self) -> None:
        """Drop every session (e.g. after plugins were reinstalled)."""
        with self._lock:
            self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)


SESSIONS = SessionCache()


def run_session(ms: ModelSession, feeds: dict[str, Any], output_names: list[str],
                run_options: Any = None) -> dict[str, Any]:
    """Run the session and return {output name: numpy array}."""
    try:
        values = ms.session.run(output_names, feeds, run_options)
    except Exception as exc:
        if run_options is not None and getattr(run_options, "terminate", False):
            raise InferenceError("cancelled") from exc
        raise InferenceError(f"the model failed on {ms.provider}: {str(exc)[:300]}") from exc
    return dict(zip(output_names, values, strict=True))


def run_model(model_path: Path, sha256: str, providers: Sequence[str], feeds: dict[str, Any],
              output_names: list[str], run_options: Any = None,
              cache: SessionCache = SESSIONS) -> tuple[dict[str, Any], ModelSession]:
    """Run a model on the cached session, falling back to CPU when a GPU run fails."""
    ms = cache.get(model_path, sha256, providers)
    try:
        return run_session(ms, feeds, output_names, run_options), ms
    except InferenceError as exc:
        if ms.provider == CPU or exc.reason == "cancelled":
            raise
        log.warning("run on %s failed for %s: %s; CPU fallback", ms.provider, model_path, exc)
        ms = cache.replace_with_cpu(model_path, sha256, providers,
                                    f"{ms.provider} failed during the run")
        return run_session(ms, feeds, output_names, run_options), ms


# ---------------------------------------------------------------------------------------------
# Background jobs with progress and cancellation
# ---------------------------------------------------------------------------------------------

_POOL: cf.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> cf.ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="oncoboard-infer")
        return _POOL


class Job:
    """A running batch: its future, progress (done, total) and a cancel switch."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.future: cf.Future[Any] | None = None
        self._cancel = threading.Event()
        self._run_options: list[Any] = []
        self._lock = threading.Lock()

    def cancel(self) -> None:
        """Ask the job to stop: no new item starts and the running model call is terminated."""
        self._cancel.set()
        with self._lock:
            for opts in self._run_options:
                opts.terminate = True

    @property
    def cancelled(self) -> bool:
        """Return True once cancel() was called."""
        return self._cancel.is_set()

    def run_options(self) -> Any:
        """Return fresh onnxruntime RunOptions that cancel() terminates."""
        import onnxruntime as ort

        opts = ort.RunOptions()
        opts.log_severity_level = 3
        with self._lock:
            opts.terminate = self._cancel.is_set()
            self._run_options.append(opts)
        return opts

    def result(self, timeout: float | None = None) -> Any:
        """Wait for and return the job's result (re-raising its error)."""
        assert self.future is not None
        return self.future.result(timeout)


def submit(items: Sequence[Any], work: Callable[[Any, Job], Any], *,
           progress: Callable[[int, int], None] | None = None) -> Job:
    """Run `work(item, job)` for each item on a worker thread; return the Job at once.

    The job's result is the list of results of the items processed (shorter than `items` when
    cancelled). `progress(done, total)` is called from the worker thread after each item.
    """
    job = Job(len(items))

    def _run() -> list[Any]:
        results = []
        for item in items:
            if job.cancelled:
                break
            results.append(work(item, job))
            job.done += 1
            if progress is not None:
                progress(job.done, job.total)
        return results

    job.future = _pool().submit(_run)
    return job
