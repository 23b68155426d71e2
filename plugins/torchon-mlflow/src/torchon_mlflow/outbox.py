"""What a tracked run sends to MLflow, sent from a thread of its own, in batches, never holding up the run.

The run's threads only append operations to a queue (a metric report is one ``deque.append``); a sender thread
wakes every ``interval`` seconds and sends what came meanwhile in order: runs created (nested under their parent
with MLflow's ``mlflow.parentRunId`` tag), consecutive params, tags and metrics of one run merged into
``MlflowClient.log_batch`` calls within MLflow's limits, artifacts, runs ended. Runs are named by *handles* (the
run, ``stage:NAME``, ``trial:N``), their MLflow ids known only to the sender.

When MLflow fails (the server is down, refuses, or answers an error) the failure is reported once, with the URI,
and everything not yet sent is dropped: the run goes on, its folder holds everything. :meth:`Outbox.close` waits
at most ``timeout`` seconds for what is left; a server too slow for that is reported once too.

MLflow's own asynchronous logging (``log_batch(synchronous=False)``) is not used: it logs every failed batch and
waits without a limit at the end, where a run must end in bounded time whatever the server does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchon_mlflow.names import key, param_value

__all__ = ["Outbox"]

logger = logging.getLogger("torchon.mlflow")

_MAX_METRICS = 1000  # per log_batch request, MLflow's limits
_MAX_PARAMS = 100
_MAX_TAGS = 100
_MAX_TAG_VALUE = 8000
_THREAD = "torchon-mlflow"


class _NotFromTheSender(logging.Filter):
    """Drops what urllib3 logs in the sender thread (a line per retry of MLflow's client): a failure is said once,
    by :meth:`Outbox.fail`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != _THREAD


_RETRIES = logging.getLogger("urllib3.connectionpool")


def _quiet_retries() -> None:
    if not any(isinstance(f, _NotFromTheSender) for f in _RETRIES.filters):
        _RETRIES.addFilter(_NotFromTheSender())


@dataclass
class _Create:
    handle: str
    parent: str | None
    name: str
    tags: dict[str, str]


@dataclass
class _Log:
    handle: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # key, value, ms, step


@dataclass
class _Artifacts:
    handle: str
    paths: list[tuple[Path, str | None]]  # local file, artifact folder


@dataclass
class _End:
    handle: str
    status: str


class Outbox:
    """Operations for one tracked run, sent to MLflow at ``uri`` in experiment ``experiment`` by a sender thread.

    :param client: makes the ``MlflowClient`` (called in the sender thread, so importing MLflow costs the run
        nothing).
    :param experiment: ``("name", NAME)`` or ``("id", ID)``; a named experiment that does not exist is created.
    """

    def __init__(
        self,
        client: Callable[[], Any],
        uri: str,
        experiment: tuple[str, str],
        *,
        interval: float = 1.0,
        what: str = "the run's folder",
    ) -> None:
        self.uri = uri
        self.experiment = experiment
        self.interval = interval
        self.what = what
        self.failure: str | None = None  # why MLflow is given up on, once said
        self._client_factory = client
        self._queue: deque[Any] = deque()
        self._ids: dict[str, str] = {}  # handle -> MLflow run id
        self._experiment_id = ""
        self._created: dict[str, threading.Event] = {}
        self._wake = threading.Event()
        self._closing = False
        self._lock = threading.Lock()  # around failure: said once
        self._thread = threading.Thread(target=self._loop, name=_THREAD, daemon=True)
        _quiet_retries()
        self._thread.start()

    # -- what the run's threads call: appends only ------------------------------------------------------------

    def create(self, handle: str, *, parent: str | None, name: str, tags: Mapping[str, str]) -> None:
        self._created.setdefault(handle, threading.Event())
        self._put(_Create(handle, parent, name, dict(tags)))

    def log(
        self, handle: str, *, params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None
    ) -> None:
        self._put(
            _Log(
                handle,
                params={key(k): param_value(v) for k, v in (params or {}).items()},
                tags={key(k): str(v)[:_MAX_TAG_VALUE] for k, v in (tags or {}).items()},
            )
        )

    def metrics(self, handle: str, step: int, values: Mapping[str, float], when: float | None = None) -> None:
        if self.failure is None:
            self._queue.append((handle, step, values, when if when is not None else time.time()))

    def artifacts(self, handle: str, paths: Iterable[tuple[Path, str | None]]) -> None:
        self._put(_Artifacts(handle, list(paths)))

    def end(self, handle: str, status: str) -> None:
        self._put(_End(handle, status))

    def _put(self, op: Any) -> None:
        if self.failure is None:
            self._queue.append(op)

    def run_id(self, handle: str, timeout: float) -> str | None:
        """The MLflow id of ``handle``'s run, waiting up to ``timeout`` seconds for it to be created."""
        event = self._created.get(handle)
        if event is None:
            return None
        self._wake.set()
        event.wait(timeout)
        return self._ids.get(handle)

    def close(self, timeout: float) -> bool:
        """Send what is left, waiting at most ``timeout`` seconds; whether everything reached MLflow."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.fail(
                f"the server did not take the last records within {timeout:g}s (it is slow or not answering; "
                "TORCHON_MLFLOW_TIMEOUT sets how long torchon waits)",
                ending=True,
            )
            return False
        return self.failure is None

    def fail(self, why: str, *, ending: bool = False) -> None:
        """Give MLflow up for this run, saying why once."""
        with self._lock:
            if self.failure is not None:
                return
            self.failure = why
        self._queue.clear()
        for event in self._created.values():
            event.set()
        then = "" if ending else " the run goes on, and nothing more of it is sent to MLflow;"
        logger.error(
            "MLflow tracking at %s failed: %s;%s %s holds everything", self.uri, why, then, self.what
        )

    # -- the sender thread ----------------------------------------------------------------------------------

    def _loop(self) -> None:
        client = None
        first = True
        while True:
            if not first and not self._closing:
                self._wake.wait(self.interval)  # what comes meanwhile goes in one request
            first = False
            self._wake.clear()
            closing = self._closing  # read before sending: what was queued before close() is sent below
            if self.failure is not None:
                return
            try:
                if client is None:
                    client = self._client_factory()
                    self._experiment_id = self._resolve_experiment(client)
                self._send(client)
            except Exception as exc:
                self.fail(_reason(exc))
                return
            if closing and not self._queue:
                return

    def _resolve_experiment(self, client: Any) -> str:
        kind, value = self.experiment
        if kind == "id":
            return str(client.get_experiment(value).experiment_id)
        found = client.get_experiment_by_name(value)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(client.create_experiment(value))
        except Exception:  # created meanwhile by another run
            found = client.get_experiment_by_name(value)
            if found is None:
                raise
            return str(found.experiment_id)

    def _send(self, client: Any) -> None:
        """Send everything queued so far, in order, merging what can go in one request."""
        pending: dict[str, _Log] = {}  # handle -> what waits to go in one log_batch
        order: list[str] = []

        def flush(handle: str | None = None) -> None:
            for h in [handle] if handle is not None else list(order):
                batch = pending.pop(h, None)
                if h in order:
                    order.remove(h)
                if batch is not None:
                    self._log_batch(client, batch)

        while self._queue:
            op = self._queue.popleft()
            if isinstance(op, tuple):  # a metric report: (handle, step, values, time)
                handle, step, values, when = op
                batch = pending.get(handle)
                if batch is None:
                    batch = pending[handle] = _Log(handle)
                    order.append(handle)
                ms = int(when * 1000)
                batch.metrics.extend((key(name), float(value), ms, step) for name, value in values.items())
                if len(batch.metrics) >= _MAX_METRICS:
                    flush(handle)
            elif isinstance(op, _Log):
                batch = pending.get(op.handle)
                if batch is None:
                    batch = pending[op.handle] = _Log(op.handle)
                    order.append(op.handle)
                batch.params.update(op.params)
                batch.tags.update(op.tags)
            elif isinstance(op, _Create):
                flush()
                self._create(client, op)
            else:
                flush(op.handle)  # what was logged to a run goes before its artifacts and its end
                run_id = self._ids.get(op.handle)
                if run_id is None:
                    continue
                if isinstance(op, _Artifacts):
                    for path, folder in op.paths:
                        if path.is_file():
                            client.log_artifact(run_id, str(path), folder)
                else:
                    client.set_terminated(run_id, op.status)
        flush()

    def _create(self, client: Any, op: _Create) -> None:
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        tags = dict(op.tags)
        if op.parent is not None:
            parent = self._ids.get(op.parent)
            if parent is None:
                return  # its parent was never created: it cannot be either
            tags[MLFLOW_PARENT_RUN_ID] = parent
        run = client.create_run(self._experiment_id, tags=tags, run_name=op.name)
        self._ids[op.handle] = run.info.run_id
        event = self._created.get(op.handle)
        if event is not None:
            event.set()

    def _log_batch(self, client: Any, batch: _Log) -> None:
        from mlflow.entities import Metric, Param, RunTag

        run_id = self._ids.get(batch.handle)
        if run_id is None:
            return
        params = [Param(k, v) for k, v in batch.params.items()]
        tags = [RunTag(k, v) for k, v in batch.tags.items()]
        metrics = [Metric(k, v, ms, step) for k, v, ms, step in batch.metrics]
        while params or tags or metrics:
            p, params = params[:_MAX_PARAMS], params[_MAX_PARAMS:]
            t, tags = tags[:_MAX_TAGS], tags[_MAX_TAGS:]
            room = _MAX_METRICS - len(p) - len(t)
            m, metrics = metrics[:room], metrics[room:]
            client.log_batch(run_id, metrics=m, params=p, tags=t, synchronous=True)


def _reason(exc: BaseException) -> str:
    """One line saying what went wrong, without MLflow's tracebacks."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 300:
        first = first[:297] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
