"""``executor: local`` (the default): tasks in local worker processes, forked from a prepared worker.

One worker process (:mod:`torchon_search.zygote`) is started per executor and prepared once; every task runs in a
child forked from it ahead of time (a *spare*, whose socket the executor holds), so starting a task is one message to
that child. A task shares nothing with other tasks once running, and whatever kills it (an exception, ``sys.exit``,
a segfault, the out-of-memory killer) is reported as that task's exit.
CPUs and GPUs are accounted for: a task starts only when its ``cpus`` and ``gpus`` are free, gets
``CUDA_VISIBLE_DEVICES`` set to the GPUs it was given, and its thread pools sized to its CPUs; ``memory_mb`` limits
its address space.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torchon.api import module_distributions
from torchon_search.executor import Executor, ExecutorError, Task, TaskEvent, WorkerSpec
from torchon_search.zygote import MAX_PACKET

__all__ = ["LocalExecutor"]

_KILL_GRACE = 5.0
_SETUP_LIMIT = 100_000  # bytes: well under what one SOCK_SEQPACKET message may carry


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _gpu_ids() -> list[int]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [int(x) for x in visible.split(",") if x.strip().isdigit()]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return list(range(sum(1 for line in out.splitlines() if line.startswith("GPU "))))


@dataclass
class _Running:
    task: Task
    cpus: float
    gpus: list[int]
    sock: socket.socket | None = None
    pid: int | None = None
    exit: dict[str, Any] | None = None  # set by an __exit__ message from the child
    kill_at: float | None = None
    released: bool = False


class LocalExecutor(Executor):
    """Runs tasks in processes forked from one prepared worker process on this machine.

    :param cpus: CPUs to share among tasks (default: the CPUs this process may use).
    :param gpus: GPU ids to share (default: ``CUDA_VISIBLE_DEVICES``, else what ``nvidia-smi -L`` lists, looked up
        only when a task asks for GPUs).
    """

    def __init__(
        self,
        worker: WorkerSpec,
        *,
        max_concurrent: int | None = 1,
        cpus: float | None = None,
        gpus: list[int] | None = None,
    ) -> None:
        super().__init__(worker, max_concurrent=max_concurrent)
        self.cpus = float(cpus if cpus is not None else _cpu_count())
        self._gpu_pool: list[int] | None = list(gpus) if gpus is not None else None
        self._free_gpus: list[int] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctrl: socket.socket | None = None
        self._selector = selectors.DefaultSelector()
        self._tasks: dict[str, _Running] = {}
        self._pids: dict[int, str] = {}  # child pid -> the task it runs
        self._spares: list[tuple[int, socket.socket]] = []  # forked children waiting for a task
        self._learned: set[str] = set()  # modules the zygote was told to import
        self._used_cpus = 0.0
        self._events: list[TaskEvent] = []

    # -- resources -----------------------------------------------------------------------------------------

    def _gpus(self) -> list[int]:
        if self._gpu_pool is None:
            self._gpu_pool = _gpu_ids()
        if self._free_gpus is None:
            self._free_gpus = list(self._gpu_pool)
        return self._free_gpus

    def fits(self, resources: Mapping[str, Any]) -> str | None:
        cpus = float(resources.get("cpus", 1))
        gpus = int(resources.get("gpus", 0))
        if cpus > self.cpus:
            return f"a trial asks for {cpus:g} CPUs but this machine has {self.cpus:g}"
        if gpus:
            self._gpus()
            assert self._gpu_pool is not None
            if gpus > len(self._gpu_pool):
                return f"a trial asks for {gpus} GPUs but {len(self._gpu_pool)} are visible here"
        return None

    def can_start(self, resources: Mapping[str, Any]) -> bool:
        active = sum(not t.released for t in self._tasks.values())
        if self.max_concurrent is not None and active >= self.max_concurrent:
            return False
        cpus = float(resources.get("cpus", 1))
        if active and self._used_cpus + cpus > self.cpus + 1e-9:
            return False
        gpus = int(resources.get("gpus", 0))
        return not gpus or len(self._gpus()) >= gpus

    # -- the worker process --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "torchon_search.zygote", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self._ctrl = ours
        spec = self.worker
        setup = {
            "prepare": spec.prepare,
            "run": spec.run,
            "prepare_args": dict(spec.prepare_args),
            "session": dict(spec.session),
        }
        # What this process read of the installed distributions (for the run's lock) holds there too: hand it over
        # when it fits in one message (a few KB; the worker reads them itself otherwise).
        with_distributions = {**spec.session, "distributions": module_distributions()}
        data = json.dumps({**setup, "session": with_distributions}, default=str).encode()
        if len(data) > _SETUP_LIMIT:
            data = json.dumps(setup, default=str).encode()
        ours.send(data)
        data = ours.recv(MAX_PACKET)
        reply = (
            json.loads(data) if data else {"op": "error", "error": "the worker process died while starting"}
        )
        if reply.get("op") != "ready":
            self.close()
            raise ExecutorError(
                f"the local worker process could not prepare: {reply.get('error')}\n{reply.get('traceback', '')}"
            )
        self._selector.register(ours, selectors.EVENT_READ, None)

    def _ctrl_message(self) -> None:
        assert self._ctrl is not None
        try:
            data, fds, _, _ = socket.recv_fds(self._ctrl, MAX_PACKET, 4)
        except ConnectionError:
            data, fds = b"", []
        if not data:
            self._worker_died()
            return
        message = json.loads(data)
        if message["op"] == "spare":
            for _, older in self._spares:  # the newest has imported what tasks import: the older ones leave
                older.close()
            self._spares = [(message["pid"], socket.socket(fileno=fds[0]))]
        elif message["op"] == "exit":
            pid = message["pid"]
            running = self._tasks.get(self._pids.pop(pid, ""))
            if running is not None:
                self._finish(running, message)
            for spare in [s for s in self._spares if s[0] == pid]:  # a spare died waiting
                self._spares.remove(spare)
                spare[1].close()

    def _worker_died(self) -> None:
        if self._ctrl is not None:
            self._selector.unregister(self._ctrl)
            self._ctrl.close()
            self._ctrl = None
        for _, sock in self._spares:
            sock.close()
        self._spares.clear()
        self._pids.clear()
        code = self._proc.wait() if self._proc is not None else None
        self._proc = None
        for running in list(self._tasks.values()):
            self._finish(
                running,
                {
                    "exit_code": None,
                    "signal": None,
                    "lost": f"the local worker process ended (status {code})",
                },
            )

    def _task_message(self, task_id: str) -> bool:
        """Read one message of a task; False at its end of file."""
        running = self._tasks.get(task_id)
        if running is None or running.sock is None:
            return False
        try:
            data = running.sock.recv(MAX_PACKET)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self._selector.unregister(running.sock)
            running.sock.close()
            running.sock = None
            return False
        message = json.loads(data)
        if "__exit__" in message:
            running.exit = message["__exit__"]
        elif "__imports__" in message:
            self._learn(message["__imports__"])
        else:
            self._events.append(TaskEvent(task_id, "message", message))
        return True

    def _learn(self, modules: list[str]) -> None:
        """Have the zygote import the modules a task imported (once each), so that later tasks need not."""
        new = [m for m in modules if m not in self._learned]
        if new and self._ctrl is not None:
            self._learned.update(new)
            self._ctrl.send(json.dumps({"op": "import", "modules": new}).encode())

    def _finish(self, running: _Running, status: Mapping[str, Any]) -> None:
        if running.sock is not None:  # messages still in the socket come before the exit
            running.sock.setblocking(False)
            while self._task_message(running.task.id):
                if running.sock is None:
                    break
            if running.sock is not None:
                self._selector.unregister(running.sock)
                running.sock.close()
                running.sock = None
        self._tasks.pop(running.task.id, None)
        if not running.released:
            self._used_cpus = max(0.0, self._used_cpus - running.cpus)
        if running.gpus and self._free_gpus is not None:
            self._free_gpus.extend(running.gpus)
        code, sig = status.get("exit_code"), status.get("signal")
        data: dict[str, Any] = {"exit_code": code, "signal": sig, "ok": code == 0 and not sig}
        if running.exit:
            data.update({k: v for k, v in running.exit.items() if k != "exit_code"})
            data["ok"] = False
        if status.get("lost"):
            data.update(ok=False, error=status["lost"])
        elif running.kill_at is not None:
            data.update(ok=False, error="cancelled", cancelled=True)
        elif sig:
            hint = " (out of memory?)" if sig == "SIGKILL" else ""
            data.setdefault("error", f"killed by {sig}{hint}")
        elif code not in (0, None) and "error" not in data:
            data["error"] = f"exited with status {code}"
        self._events.append(TaskEvent(running.task.id, "exit", data))

    # -- tasks ---------------------------------------------------------------------------------------------

    def submit(self, task: Task) -> None:
        if self._ctrl is None:
            self.start()
        while not self._spares:  # the zygote forks the next one as soon as the last is taken
            if self._ctrl is None:
                raise ExecutorError("the local worker process ended")
            self._ctrl_message()
        assert self._ctrl is not None
        pid, sock = self._spares.pop(0)
        cpus = float(task.resources.get("cpus", 1))
        gpus_needed = int(task.resources.get("gpus", 0))
        gpus: list[int] = []
        if gpus_needed:
            free = self._gpus()
            gpus, free[:] = free[:gpus_needed], free[gpus_needed:]
        self._tasks[task.id] = _Running(task, cpus, gpus, sock, pid)
        self._pids[pid] = task.id
        self._used_cpus += cpus
        self._selector.register(sock, selectors.EVENT_READ, task.id)
        message = {
            "task": task.id,
            "payload": dict(task.payload),
            "resources": dict(task.resources),
            "gpu_ids": gpus if gpus_needed else None,
            "log": task.log,
        }
        try:
            sock.send(json.dumps(message, default=str).encode())
        except OSError:
            pass  # the child died waiting: its exit, reported by the zygote, ends the task
        self._ctrl.send(json.dumps({"op": "assign", "pid": pid}).encode())

    def poll(self, timeout: float | None = None) -> list[TaskEvent]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._events:
            self._check_kills()
            if not self._tasks and self._ctrl is None:
                break
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait = 0.5 if left is None else min(left, 0.5)
            for key, _ in self._selector.select(wait):
                if key.fileobj is self._ctrl:
                    self._ctrl_message()
                else:
                    self._task_message(key.data)
            if deadline is not None and time.monotonic() >= deadline:
                break
        events, self._events = self._events, []
        return events

    def send(self, task_id: str, message: Mapping[str, Any]) -> None:
        running = self._tasks.get(task_id)
        if running is None or running.sock is None:
            return
        try:
            running.sock.send(json.dumps(message, default=str).encode())
        except OSError:
            pass  # it is ending; its exit event says how

    def release(self, task_id: str) -> None:
        running = self._tasks.get(task_id)
        if running is not None and not running.released:
            running.released = True
            self._used_cpus = max(0.0, self._used_cpus - running.cpus)

    def cancel(self, task_id: str) -> None:
        running = self._tasks.get(task_id)
        if running is None or self._ctrl is None:
            return
        if running.kill_at is None:
            running.kill_at = time.monotonic() + _KILL_GRACE
            self._ctrl.send(json.dumps({"op": "kill", "pid": running.pid, "gentle": True}).encode())

    def _check_kills(self) -> None:
        now = time.monotonic()
        for running in self._tasks.values():
            if running.kill_at is not None and now >= running.kill_at and self._ctrl is not None:
                running.kill_at = now + 3600
                self._ctrl.send(json.dumps({"op": "kill", "pid": running.pid}).encode())

    def running(self) -> int:
        return len(self._tasks)

    def close(self) -> None:
        if self._ctrl is not None:
            try:
                self._selector.unregister(self._ctrl)
            except (KeyError, ValueError):
                pass
            self._ctrl.close()  # the worker kills its children when it sees the socket close
            self._ctrl = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        for running in list(self._tasks.values()):
            if running.sock is not None:
                running.sock.close()
        for _, sock in self._spares:
            sock.close()
        self._spares.clear()
        self._tasks.clear()
        self._pids.clear()
        self._selector.close()
