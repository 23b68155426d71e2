"""``torchon.report`` and ``torchon.log``: metrics from any component to the run's ``metrics.jsonl``, or from a
child process a runnable started (``!Script``) to the pipe ``TORCHON_METRICS_FD`` names; outside a run, dropped.

``metrics.jsonl`` is written at most once a second, before every bundle is saved (``torchon.save`` calls
:func:`flush`: a checkpoint's metrics are on disk before it is) and at exit: a write per step would cost a
file-system journal update per training step.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "METRICS_FD_ENV",
    "MetricsRecorder",
    "add_listener",
    "check_metrics",
    "flush",
    "log",
    "report",
    "start_recording",
    "stop_recording",
]

METRICS_FD_ENV = "TORCHON_METRICS_FD"
_RESERVED = ("step", "time")
_logger = logging.getLogger("torchon.metrics")


class MetricsRecorder:
    """Appends metric records as JSON lines and keeps them in memory; ``flush_seconds`` is how long a record may
    wait to be written (0: at once, for a pipe another process reads)."""

    def __init__(self, stream: IO[str], *, flush_seconds: float = 0.0) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._flush_seconds = flush_seconds
        self._next_flush = 0.0
        self._pending: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []

    def record(self, step: int | None, metrics: dict[str, float]) -> dict[str, Any]:
        entry: dict[str, Any] = {"step": step, "time": round(time.time(), 6), **metrics}
        with self._lock:
            self.history.append(entry)
            self._pending.append(entry)
            if self._flush_seconds == 0 or time.monotonic() >= self._next_flush:
                self._write()
        return entry

    def _write(self) -> None:
        """Write the pending records through to the file (the lock held)."""
        if self._stream.closed:
            return
        if self._pending:
            self._stream.write("".join(json.dumps(e, allow_nan=True) + "\n" for e in self._pending))
            self._pending.clear()
        self._stream.flush()
        self._next_flush = time.monotonic() + self._flush_seconds

    def flush(self) -> None:
        with self._lock:
            self._write()

    def close(self) -> None:
        with self._lock:
            self._write()
            self._stream.close()


_recorder: MetricsRecorder | None = None
_child: MetricsRecorder | None = None
_listeners: list[Callable[[int | None, dict[str, float]], None]] = []


def add_listener(listener: Callable[[int | None, dict[str, float]], None]) -> Callable[[], None]:
    """Also send every metric reported in this process to ``listener(step, metrics)`` (a TensorBoard writer),
    whether or not a run records them; returns the function that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def start_recording(path: Path) -> MetricsRecorder:
    """Send this process's metrics to ``path`` until :func:`stop_recording`."""
    global _recorder
    path.parent.mkdir(parents=True, exist_ok=True)
    _recorder = MetricsRecorder(open(path, "a", encoding="utf-8"), flush_seconds=1.0)
    return _recorder


def flush() -> None:
    """Write what was reported so far to the run's ``metrics.jsonl`` now."""
    if _recorder is not None:
        _recorder.flush()


atexit.register(flush)  # a process ending without stop_recording() still writes what it reported


def stop_recording() -> None:
    global _recorder
    if _recorder is not None:
        _recorder.close()
        _recorder = None


def _child_recorder() -> MetricsRecorder | None:
    """The pipe the parent process named, opened on first use."""
    global _child
    fd = os.environ.get(METRICS_FD_ENV)
    if _child is None and fd:
        try:
            _child = MetricsRecorder(os.fdopen(int(fd), "w", buffering=1, encoding="utf-8"))
        except (OSError, ValueError):
            _logger.warning(
                "%s=%s is not an open file descriptor; metrics are not recorded", METRICS_FD_ENV, fd
            )
            os.environ.pop(METRICS_FD_ENV, None)
    return _child


def check_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics as numbers; raises on an empty report, a reserved name or a value that is not a number."""
    if not metrics:
        raise ValueError("report() needs at least one metric, e.g. report(step=3, loss=0.25)")
    clean: dict[str, float] = {}
    for name, value in metrics.items():
        if name in _RESERVED:
            raise ValueError(f"{name!r} is reserved in metric records; name the metric differently")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"metric {name!r} must be a number, got {type(value).__name__} {value!r}"
            ) from None
        clean[name] = int(number) if isinstance(value, int) and not isinstance(value, bool) else number
        if math.isnan(number):
            _logger.warning("metric %s is NaN", name)
    return clean


def report(step: int | None = None, **metrics: Any) -> None:
    """Record metrics (numbers) for ``step`` in the current run."""
    clean = check_metrics(metrics)
    for listener in list(_listeners):
        try:
            listener(None if step is None else int(step), clean)
        except Exception:
            _logger.warning("metrics listener %r failed", listener, exc_info=True)
    recorder = _recorder or _child_recorder()
    if recorder is None:
        _logger.debug("no run is recording metrics; dropped %s", clean)
        return
    recorder.record(None if step is None else int(step), clean)


def log(name: str, value: float, step: int | None = None) -> None:
    """Record one scalar, as TensorBoard's ``add_scalar`` would."""
    report(step=step, **{name: value})
