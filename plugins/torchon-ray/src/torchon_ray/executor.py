"""``executor: ray``: trials of a Search or an Experiment on a Ray cluster, driven by torchon's own driver.

The search driver (torchon-search) keeps asking Optuna for trials and feeding its pruner; this executor only decides
where each trial runs. Trials run in :class:`torchon_ray.host.TaskHost` actors, one per trial running at once, each
holding that trial's CPUs, GPUs and memory as Ray resources, so Ray places them on the cluster's nodes; a host is
reused for the next trial of the same shape (Ray Tune's ``reuse_actors``), and replaced when a trial of another
shape needs its room. The seeded search therefore asks the same questions in the same order as with the local
executor, and a YAML file means the same on both.

Outputs (trial folders, checkpoints, bundles, logs) are written where the driver says, so the run's output folder
must be on storage every node can reach (a shared folder).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torchon_ray.connect import Capacity, capacity, connect
from torchon_search.executor import Executor, ExecutorError, Task, TaskEvent, WorkerSpec

__all__ = ["RayExecutor"]

logger = logging.getLogger("torchon.ray")

_POLL_WAIT = 1.0  # how long a host's poll call waits for an event before the driver asks again
_REFRESH = 10.0  # seconds between two looks at the cluster's nodes: nodes that join are counted this soon
_CLOSE_GRACE = 10.0


@dataclass(frozen=True)
class _Shape:
    """A trial's resources, as the key hosts are reused by: what its host holds, and what each process it starts
    on the cluster holds (``workers``: a Trainer on Ray Train, whose own placement group Ray Train reserves)."""

    cpus: float = 1.0
    gpus: int = 0
    memory_mb: float | None = None
    workers: tuple[tuple[tuple[str, float], ...], ...] = ()

    @classmethod
    def of(cls, resources: Mapping[str, Any]) -> _Shape:
        memory = resources.get("memory_mb")
        workers = tuple(
            tuple(sorted((k, float(v)) for k, v in w.items())) for w in resources.get("workers", ())
        )
        # the host of a trial whose work runs in its workers only drives them: no CPU of its own unless asked
        cpus = float(resources.get("cpus", 0 if workers else 1))
        return cls(cpus, int(resources.get("gpus", 0)), memory and float(memory), workers)

    def ray_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": self.cpus, "num_gpus": self.gpus}
        if self.memory_mb:
            options["memory"] = int(self.memory_mb * 1024 * 1024)
        return options

    def as_resources(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cpus": self.cpus, "gpus": self.gpus}
        if self.memory_mb:
            out["memory_mb"] = self.memory_mb
        return out

    def host_demand(self) -> dict[str, float]:
        return {"CPU": self.cpus, "GPU": float(self.gpus)}

    def workers_demand(self) -> dict[str, float]:
        """What the trial's processes hold together, by Ray resource name."""
        out: dict[str, float] = {}
        for worker in self.workers:
            for key, value in worker:
                out[key] = out.get(key, 0.0) + value
        return out


@dataclass
class _Host:
    actor: Any
    shape: _Shape
    tasks: set[str] = field(default_factory=set)  # every task not yet ended
    active: set[str] = field(default_factory=set)  # not released: holding the host's slot
    poll: Any = None  # the ObjectRef of the poll call in flight

    def idle(self) -> bool:
        """Free for another trial: nothing active, and no GPU still held by one finishing."""
        return not self.active and not (self.shape.gpus and self.tasks)


class RayExecutor(Executor):
    """Runs tasks in Ray actors (see the module's docstring); joins ``RAY_ADDRESS`` or starts a local Ray."""

    def __init__(self, worker: WorkerSpec, *, max_concurrent: int | None = 1) -> None:
        super().__init__(worker, max_concurrent=max_concurrent)
        self._hosts: list[_Host] = []
        self._where: dict[str, _Host] = {}
        self._events: list[TaskEvent] = []
        self._capacity: Capacity | None = None
        self._looked = 0.0  # when the cluster's nodes were last read
        self._owns_ray = False
        self._setup = {
            "prepare": worker.prepare,
            "run": worker.run,
            "prepare_args": dict(worker.prepare_args),
            "session": dict(worker.session),
        }

    # -- the cluster -----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._capacity is not None:
            return
        try:
            self._owns_ray = connect()
            self._capacity, self._looked = capacity(), time.monotonic()
        except Exception as exc:
            raise ExecutorError(f"cannot join Ray: {type(exc).__name__}: {exc}") from exc
        # One host up front: a worker that cannot prepare fails here, as the local executor's does.
        import ray

        host = self._new_host(_Shape())
        try:
            ray.get(host.actor.ready.remote())
        except Exception as exc:
            self.close()
            raise ExecutorError(f"the Ray worker could not prepare: {_reason(exc)}") from None

    def _cluster(self) -> Capacity:
        """The cluster's nodes, read again every ``_REFRESH`` seconds: nodes joining (by hand, or started by an
        autoscaler) take trials, nodes leaving stop counting."""
        if self._capacity is None:
            self.start()
        elif time.monotonic() - self._looked > _REFRESH:
            self._looked = time.monotonic()
            try:
                self._capacity = capacity()
            except Exception as exc:  # the cluster briefly unreachable: what was known stays
                logger.debug("could not read the Ray cluster's nodes: %s", exc)
        assert self._capacity is not None
        return self._capacity

    def _new_host(self, shape: _Shape) -> _Host:
        import ray

        from torchon_ray.host import TaskHost

        actor_cls = ray.remote(TaskHost).options(max_concurrency=4, max_restarts=0, **shape.ray_options())
        actor = actor_cls.remote(self._setup, shape.as_resources(), os.getcwd(), list(self._cluster().hosts))
        host = _Host(actor, shape)
        self._hosts.append(host)
        return host

    def _held(self, hosts: list[_Host]) -> dict[str, float]:
        """What ``hosts`` hold of the cluster: each host its own share, and the processes of its trials (counted
        until the trial ends)."""
        held: dict[str, float] = {"CPU": 0.0, "GPU": 0.0}
        for host in hosts:
            parts = [host.shape.host_demand()] + [host.shape.workers_demand()] * len(host.tasks)
            for part in parts:
                for key, value in part.items():
                    held[key] = held.get(key, 0.0) + value
        return held

    def _spare(self, shape: _Shape) -> tuple[_Host | None, list[_Host] | None]:
        """A host to reuse for ``shape``, else the idle hosts of other shapes to give up to make room for a new
        one (None when there is no room even then)."""
        total = self._cluster().total
        workers = shape.workers_demand()
        for host in self._hosts:
            if host.shape == shape and host.idle():
                if _within(self._held(self._hosts), workers, total):
                    return host, []
                return None, None  # its trial's processes would not find room yet
        held = self._held(self._hosts)
        need = dict(workers)
        for key, value in shape.host_demand().items():
            need[key] = need.get(key, 0.0) + value
        evict: list[_Host] = []
        spare = sorted(
            (h for h in self._hosts if h.shape != shape and not h.tasks), key=lambda h: -h.shape.cpus
        )
        while True:
            if _within(held, need, total):
                return None, evict
            if not spare:
                return None, None
            host = spare.pop(0)
            evict.append(host)
            for key, value in host.shape.host_demand().items():
                held[key] -= value

    # -- the Executor interface ------------------------------------------------------------------------------

    def fits(self, resources: Mapping[str, Any]) -> str | None:
        shape = _Shape.of(resources)
        cluster = self._cluster()
        largest = cluster.largest
        if shape.cpus > largest.get("CPU", 0):
            return (
                f"a trial asks for {shape.cpus:g} CPUs but the largest Ray node has {largest.get('CPU', 0):g}"
            )
        if shape.gpus > largest.get("GPU", 0):
            return (
                f"a trial asks for {shape.gpus} GPUs but the largest Ray node has {largest.get('GPU', 0):g}"
            )
        for worker in shape.workers:
            for key, value in worker:
                if value > largest.get(key, 0):
                    return (
                        f"each of a trial's {len(shape.workers)} Trainer processes asks for {value:g} {key} but "
                        f"the largest Ray node has {largest.get(key, 0):g}"
                    )
        for key, value in shape.workers_demand().items():
            if value > cluster.total.get(key, 0) + 1e-9:
                return (
                    f"a trial's {len(shape.workers)} Trainer processes ask for {value:g} {key} in all but the Ray "
                    f"cluster has {cluster.total.get(key, 0):g}"
                )
        return None

    def can_start(self, resources: Mapping[str, Any]) -> bool:
        if self.max_concurrent is not None and sum(len(h.active) for h in self._hosts) >= self.max_concurrent:
            return False
        host, evict = self._spare(_Shape.of(resources))
        return host is not None or evict is not None

    def submit(self, task: Task) -> None:
        shape = _Shape.of(task.resources)
        host, evict = self._spare(shape)
        if host is None:
            for old in evict or []:
                self._drop(old)
            host = self._new_host(shape)
        host.tasks.add(task.id)
        host.active.add(task.id)
        self._where[task.id] = host
        message = {
            "id": task.id,
            "payload": dict(task.payload),
            "resources": dict(task.resources),
            "log": task.log,
        }
        host.actor.submit.remote(message)
        if host.poll is None:
            host.poll = host.actor.poll.remote(_POLL_WAIT)

    def poll(self, timeout: float | None = None) -> list[TaskEvent]:
        import ray

        if not self._events:
            pending = {h.poll: h for h in self._hosts if h.poll is not None}
            if pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=timeout)
                if ready:
                    ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
                for ref in ready:
                    self._collect(pending[ref], ref)
        events, self._events = self._events, []
        return events

    def _collect(self, host: _Host, ref: Any) -> None:
        import ray

        host.poll = None
        try:
            raw = ray.get(ref)
        except Exception as exc:  # the actor died: its node went away, or something killed it
            self._lost(host, f"the Ray actor running it died ({_reason(exc)})")
            return
        for item in raw:
            event = TaskEvent(item["task_id"], item["kind"], item["data"])
            if event.kind == "exit":
                host.tasks.discard(event.task_id)
                host.active.discard(event.task_id)
                self._where.pop(event.task_id, None)
            self._events.append(event)
        if host.tasks:
            host.poll = host.actor.poll.remote(_POLL_WAIT)

    def _lost(self, host: _Host, why: str) -> None:
        for task_id in sorted(host.tasks):
            self._where.pop(task_id, None)
            self._events.append(
                TaskEvent(task_id, "exit", {"ok": False, "exit_code": None, "signal": None, "error": why})
            )
        host.tasks.clear()
        host.active.clear()
        self._drop(host)

    def _drop(self, host: _Host) -> None:
        import ray

        if host in self._hosts:
            self._hosts.remove(host)
        try:
            ray.kill(host.actor)
        except Exception:
            pass

    def send(self, task_id: str, message: Mapping[str, Any]) -> None:
        host = self._where.get(task_id)
        if host is not None:
            host.actor.send.remote(task_id, dict(message))

    def release(self, task_id: str) -> None:
        host = self._where.get(task_id)
        if host is not None and task_id in host.active:
            host.active.discard(task_id)
            host.actor.release.remote(task_id)

    def cancel(self, task_id: str) -> None:
        host = self._where.get(task_id)
        if host is not None:
            host.actor.cancel.remote(task_id)

    def running(self) -> int:
        return len(self._where)

    def close(self) -> None:
        import ray

        if not ray.is_initialized():
            return
        closing = [h.actor.close.remote() for h in self._hosts]
        if closing:
            ray.wait(closing, num_returns=len(closing), timeout=_CLOSE_GRACE)
        for host in list(self._hosts):
            self._drop(host)
        self._where.clear()
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
        self._capacity = None


def _within(held: Mapping[str, float], need: Mapping[str, float], total: Mapping[str, float]) -> bool:
    return all(held.get(k, 0.0) + v <= total.get(k, 0.0) + 1e-9 for k, v in need.items() if v)


def _reason(exc: BaseException) -> str:
    """The first line that says why, of a Ray error that wraps the actor's own."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip().splitlines()
    lines = [line for line in text if line.strip() and not line.startswith(("Traceback", "  "))]
    return (lines[-1] if lines else type(exc).__name__)[:500]
