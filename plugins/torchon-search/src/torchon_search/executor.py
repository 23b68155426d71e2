"""Executors: what runs the trials of a Search or the stages of an Experiment.

An executor runs *tasks*. Every task of a run calls the same worker function (:class:`WorkerSpec`), each in
isolation (a process of its own, a Ray actor), with a payload of plain data; the task and the driver exchange
messages (plain data: JSON-able dicts) while it runs, and the executor says how it ended, including when it
crashed (an exception, ``sys.exit``, a signal such as a segfault, or a kill by the out-of-memory killer). What the
messages mean is up to the plugin that drives the tasks (torchon-search); executors only carry them.

Plugins register executors by name with the ``torchon_register_executors`` hook (torchon-search's own, added to
torchon's from :mod:`torchon_search.hookspecs`)
(``executors.add("local", "torchon_search.local:LocalExecutor")``); a config selects one with ``executor: NAME``.
This module is the interface they implement. It imports nothing heavy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from torchon.api import TorchonError

__all__ = ["Channel", "Executor", "ExecutorError", "Task", "TaskEvent", "WorkerSpec"]


class ExecutorError(TorchonError, RuntimeError):
    """The executor itself failed (its workers cannot start), as opposed to a task failing."""


@dataclass(frozen=True)
class WorkerSpec:
    """What every task of one run calls.

    :ivar prepare: ``"module:function"`` called once in each worker process before its first task, as
        ``prepare(prepare_args)``; what it returns (loaded config, imported classes) is handed to every task that
        process runs. Heavy work belongs here, done once rather than per task.
    :ivar run: ``"module:function"`` called for each task as ``run(prepared, payload, channel)``; returning ends
        the task successfully, raising (or exiting) fails it.
    :ivar prepare_args: plain data for ``prepare``.
    :ivar session: the driver's :func:`torchon.session.capture`, which every worker process restores first (the
        same plugins, so that what workers save names the same distributions; environment; ``sys.path``).
    """

    prepare: str
    run: str
    prepare_args: Mapping[str, Any] = field(default_factory=dict)
    session: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """One call of the worker function.

    :ivar id: unique within the executor's life; events name it.
    :ivar payload: plain data for ``run``.
    :ivar resources: what the task needs: ``cpus`` (default 1), ``gpus`` (default 0), ``memory_mb`` (a limit;
        default none), and ``workers``: a list of what each process the task starts elsewhere holds (a Trainer
        on Ray Train: the ``ray`` executor places them; others ignore it). An executor starts a task only when
        that much is free.
    :ivar log: a file to send the task's standard output and error to (None: the executor chooses).
    """

    id: str
    payload: Mapping[str, Any]
    resources: Mapping[str, Any] = field(default_factory=dict)
    log: str | None = None


@dataclass(frozen=True)
class TaskEvent:
    """Something a task did: sent a message, or ended.

    ``kind == "message"``: ``data`` is what the task sent. ``kind == "exit"``: ``data`` holds ``ok`` (bool),
    ``exit_code`` (int or None), ``signal`` (a name such as ``"SIGSEGV"``, or None), ``error`` (a one-line reason
    when not ok) and ``traceback`` (when the task raised).
    """

    task_id: str
    kind: Literal["message", "exit"]
    data: Mapping[str, Any]


class Channel(Protocol):
    """A task's end of its link to the driver."""

    def send(self, message: Mapping[str, Any]) -> None:
        """Send plain data to the driver (it arrives as a ``message`` event)."""

    def recv(self, timeout: float | None = None) -> Mapping[str, Any] | None:
        """Wait for the driver's next message (``Executor.send``); None when ``timeout`` passes first."""


class Executor(ABC):
    """Runs tasks in isolation, relays their messages, reports how each ended.

    The driver calls :meth:`start` once, then :meth:`submit` while :meth:`can_start` says a task fits,
    :meth:`poll` for events, :meth:`send` to answer a task, :meth:`cancel` to stop one, and :meth:`close` at the
    end (also as a context manager). Every submitted task ends with exactly one ``exit`` event, cancelled or not.

    :param worker: what every task calls.
    :param max_concurrent: at most this many tasks run at once; None: as many as the executor's resources allow
        (a cluster's CPUs, not those of the machine the driver runs on).
    """

    def __init__(self, worker: WorkerSpec, *, max_concurrent: int | None = 1) -> None:
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.worker = worker
        self.max_concurrent = max_concurrent

    def start(self) -> None:  # noqa: B027 - optional: executors with nothing to start need not override it
        """Start workers (may take a while); raise :class:`ExecutorError` when they cannot start."""

    @abstractmethod
    def can_start(self, resources: Mapping[str, Any]) -> bool:
        """Whether a task needing ``resources`` can start now."""

    @abstractmethod
    def fits(self, resources: Mapping[str, Any]) -> str | None:
        """None when a task needing ``resources`` can ever run here, else why not (e.g. more GPUs than exist)."""

    @abstractmethod
    def submit(self, task: Task) -> None:
        """Start ``task`` (call only when :meth:`can_start` is true for its resources)."""

    @abstractmethod
    def poll(self, timeout: float | None = None) -> list[TaskEvent]:
        """Events since the last call, waiting up to ``timeout`` seconds for the first one."""

    @abstractmethod
    def send(self, task_id: str, message: Mapping[str, Any]) -> None:
        """Send plain data to a running task (what its ``channel.recv()`` returns)."""

    def release(self, task_id: str) -> None:  # noqa: B027 - optional: by default a task holds its slot to the end
        """Let other tasks start in this task's place while it finishes what is left (saving, tearing down); its
        CPUs and concurrency slot are freed, GPUs stay held until it ends. Its ``exit`` event still follows."""

    @abstractmethod
    def cancel(self, task_id: str) -> None:
        """Stop a task: ask it to end, then end it by force; its ``exit`` event follows."""

    @abstractmethod
    def running(self) -> int:
        """How many submitted tasks have not yet been reported as ended."""

    @abstractmethod
    def close(self) -> None:
        """Stop every task and the workers; the executor cannot be used afterwards."""

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
