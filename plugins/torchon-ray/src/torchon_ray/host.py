"""The Ray actor that runs trials: a local executor on whichever node Ray placed it.

Each :class:`TaskHost` holds the CPUs and GPUs of one trial (Ray's own accounting places it), prepares the worker
once (a :class:`torchon_search.local.LocalExecutor`: config loaded, classes imported) and then runs one trial after
another in processes forked from it. Hosting the local executor, rather than running trials in the actor process,
is what makes a trial on Ray end the way it ends locally: an exception, ``sys.exit``, a segfault or a kill by the
out-of-memory killer takes down the trial's process, is reported with the same fields, and leaves the actor ready
for the next trial (Ray Tune's ``reuse_actors``).

The driver keeps one ``poll`` call in flight per host while it has trials; ``submit``, ``send``, ``release`` and
``cancel`` arrive on other threads of the actor (it is threaded), so every use of the local executor takes a lock
and ``poll`` waits in short slices.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["TaskHost", "rebase"]

_SLICE = 0.005  # how long a poll holds the lock at a time: the most a send waits behind it


def rebase(value: Any, old: str, new: str) -> Any:
    """``value`` with paths under ``old`` moved under ``new``: the driver's Ray working folder is unpacked at a
    different place on each node."""
    if not old or old == new:
        return value
    if isinstance(value, str):
        if value == old or value.startswith(old.rstrip("/") + "/"):
            return new + value[len(old) :]
        return value
    if isinstance(value, Mapping):
        return {k: rebase(v, old, new) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(rebase(v, old, new) for v in value)
    return value


class TaskHost:
    """Runs trials of one resource shape on one node (wrapped with ``ray.remote`` by the executor).

    :param setup: the :class:`torchon_search.executor.WorkerSpec` as a dict.
    :param resources: the trial's resources (``cpus``, ``gpus``, ``memory_mb``), which this actor holds.
    :param driver_cwd: the driver's working folder, for :func:`rebase`.
    :param hosts: the hosts taking part, for ``torchon.get_env().hosts`` in trials.
    """

    def __init__(
        self, setup: Mapping[str, Any], resources: Mapping[str, Any], driver_cwd: str, hosts: list[str]
    ) -> None:
        import os

        import ray

        from torchon_search.executor import WorkerSpec
        from torchon_search.local import LocalExecutor

        if os.path.isdir(driver_cwd):  # the driver's node, or a shared folder: its relative paths hold here
            os.chdir(driver_cwd)
        else:
            setup = rebase(dict(setup), driver_cwd, os.getcwd())
        gpu_ids = [int(g) for g in ray.get_gpu_ids()]
        context = ray.get_runtime_context()
        # a trial whose Trainer trains on Ray Train joins this cluster as a driver of its own (its processes are
        # forked from a fresh worker process, which has no Ray connection to share)
        os.environ.setdefault("RAY_ADDRESS", context.gcs_address)
        trial = {
            "executor": "ray",
            "host": socket.gethostname(),
            "node_id": context.get_node_id(),
            "resources": dict(resources),
            "gpu_ids": gpu_ids,
        }
        state = dict(setup.get("session") or {})
        env = dict(state.get("env") or {})
        env["hosts"] = list(hosts)
        env["extra"] = {**(env.get("extra") or {}), "trial": trial}
        spec = WorkerSpec(
            prepare=setup["prepare"],
            run=setup["run"],
            prepare_args=setup.get("prepare_args") or {},
            session={**state, "env": env},
        )
        self._lock = threading.Lock()
        self._cancelled: set[str] = set()
        self._early: list[dict[str, Any]] = []  # exits of tasks cancelled before they arrived
        self._local = LocalExecutor(
            spec, max_concurrent=1, cpus=float(resources.get("cpus", 1)), gpus=gpu_ids
        )
        self._local.start()  # raises ExecutorError when the worker cannot prepare: the actor fails to start
        self.where = trial

    def ready(self) -> Mapping[str, Any]:
        """Where this host runs (called once to wait for it to start)."""
        return self.where

    def submit(self, task: Mapping[str, Any]) -> None:
        from torchon_search.executor import Task

        with self._lock:
            if task["id"] in self._cancelled:  # a cancel overtook it (threaded actors do not keep call order)
                self._early.append(
                    {
                        "task_id": task["id"],
                        "kind": "exit",
                        "data": {
                            "ok": False,
                            "exit_code": None,
                            "signal": None,
                            "error": "cancelled",
                            "cancelled": True,
                        },
                    }
                )
                return
            self._local.submit(Task(task["id"], task["payload"], task["resources"], task.get("log")))

    def poll(self, wait: float) -> list[dict[str, Any]]:
        """Events of this host's tasks, waiting up to ``wait`` seconds for the first."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                events: list[dict[str, Any]] = self._early
                self._early = []
                events += [
                    {"task_id": e.task_id, "kind": e.kind, "data": dict(e.data)}
                    for e in self._local.poll(_SLICE)
                ]
            if events or time.monotonic() >= deadline:
                return events
            time.sleep(0.0005)  # let a waiting submit or send take the lock

    def send(self, task_id: str, message: Mapping[str, Any]) -> None:
        with self._lock:
            self._local.send(task_id, message)

    def release(self, task_id: str) -> None:
        with self._lock:
            self._local.release(task_id)

    def cancel(self, task_id: str) -> None:
        with self._lock:
            self._cancelled.add(task_id)
            self._local.cancel(task_id)

    def close(self) -> None:
        with self._lock:
            self._local.close()
