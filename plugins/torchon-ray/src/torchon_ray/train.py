"""The Trainer on Ray Train: ``executor: ray`` on a ``!Trainer`` with ``processes: N``.

The process that runs the Trainer (``torchon run``, or a search's trial) is the *driver*: it trains nothing itself.
It starts a Ray Train ``TorchTrainer`` with N workers, which Ray places on the cluster's nodes, gives a process
group (gloo on the CPU, NCCL on GPUs) and restarts after a failure, up to ``max_failures`` times. Each worker
restores the driver's torchon session, builds the same Trainer from its config and joins that process group as its
place among the Trainer's data-parallel processes (:mod:`torchon_torch.distributed`), so the step loop is the one
local processes run: worker 0 leads, the others follow it, and worker 0 writes the checkpoints, the best model,
the final state, TensorBoard and the summary.

Worker 0 and the driver talk through a small Ray actor, the :class:`Channel`: before each step worker 0 waits for
the driver to ask for it (so a search can stop a trial between two steps, as locally), and after it hands the
driver the step's metrics and counters, which the driver reports as its own. When Ray Train restarts the workers,
they resume from the last checkpoint (steps done since are redone, bit for bit) and the driver sees each step once.

Checkpoints go to the run's output folder, which every node must then reach (a shared folder), or to ``storage``
(``s3://...``, any torchon storage backend): then each worker works in a local folder, worker 0 uploads each
checkpoint and, at the end, its results, and workers starting again download the last checkpoint first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import torchon
from torchon.api import session, storage_for
from torchon_torch.checks import ray_process_resources
from torchon_torch.distributed import Place
from torchon_torch.training_run import read_counters, write_counters

__all__ = ["Channel", "ProgressRelay", "RayTrainRun", "worker_loop"]

logger = logging.getLogger("torchon.ray")

_WAIT = 1.0  # seconds a driver's call to the channel waits for news before it looks at the run again
_SHARE_EVERY = 30.0  # seconds between two uploads of TensorBoard's events during a run (remote storage)
_TICK = 0.1  # seconds between two progress updates worker 0 sends within a step (a local bar's rate)
_STORAGE_ENV = ("TORCHON_S3_", "AWS_")  # handed to the workers (whose environment is their node's)
_RESULTS = (
    "final",
    "best",
    "summary.json",
    "tensorboard",
)  # what worker 0 uploads at the end (remote storage)


class Channel:
    """Between the driver and worker 0 (a Ray actor, async): which step the driver wants, what was done.

    Every change of state wakes whoever waits for one (an :class:`asyncio.Event` replaced after each change), so
    a step's go-ahead and its report cross the actor as soon as they are given."""

    def __init__(self) -> None:
        self.done: int | None = None  # the last step done (worker 0's steps when it first said hello)
        self.wanted = 0  # the driver wants steps up to this one
        self.stopped = False
        self.checkpointed: int | None = None  # the step of the last checkpoint this run wrote
        self.events: list[dict[str, Any]] = []
        self.starts = 0  # how many times worker 0 started (more than once: Ray Train restarted the workers)
        self.resumed = 0  # the step worker 0 last started from
        self.calls: list[list[Any]] = []  # worker 0's progress display, call by call (see ProgressRelay)
        self.dropped = 0  # calls the driver has shown, dropped from ``calls`` (a long run sends many)
        self._changed = asyncio.Event()

    def _change(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _until(self, ready: Any, timeout: float | None) -> bool:
        """Wait until ``ready()`` holds (True) or ``timeout`` seconds pass (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not ready():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return bool(ready())
        return True

    async def hello(self, steps_done: int) -> int | None:
        """Worker 0, started (again): its steps; returns the last checkpoint this run wrote (None: none)."""
        if self.done is None:
            self.done = steps_done
            self.wanted = max(self.wanted, steps_done)
        self.starts += 1
        self.resumed = steps_done
        self._change()
        return self.checkpointed

    def checkpoint(self) -> int | None:
        return self.checkpointed

    async def ask(self, timeout: float) -> int | None:
        """The driver wants the next step; returns that step (None: worker 0 is not there yet)."""
        if not await self._until(lambda: self.done is not None, timeout):
            return None
        assert self.done is not None
        self.wanted = max(self.wanted, self.done + 1)
        self._change()
        return self.wanted

    async def stop(self) -> None:
        self.stopped = True
        self._change()

    async def next(self, steps_done: int) -> bool:
        """Worker 0: wait until the driver wants a step after ``steps_done`` (True) or stops the run (False)."""
        await self._until(lambda: self.stopped or self.wanted > steps_done, None)
        return not self.stopped

    async def report(self, event: dict[str, Any]) -> None:
        """Worker 0: a step is done (a step redone after a restart is not news)."""
        if event.get("checkpointed") is not None:
            self.checkpointed = event["checkpointed"]
        event = {**event, "starts": self.starts, "resumed": self.resumed}
        if self.done is None or event["step"] > self.done or not event["go_on"]:
            self.done = max(self.done or 0, event["step"])
            self.events.append(event)
            self._change()

    async def progress(self, call: list[Any]) -> None:
        """Worker 0: one call of its progress display, for the driver to show."""
        self.calls.append(call)
        self._change()

    async def wait(
        self, after: int, calls: int, timeout: float
    ) -> tuple[list[dict[str, Any]], list[list[Any]]]:
        """The driver: the events of steps after ``after`` and the progress calls after the first ``calls`` (which
        it has shown: they are dropped), waiting up to ``timeout`` for either."""
        if calls > self.dropped:
            del self.calls[: calls - self.dropped]
            self.dropped = calls

        def new() -> list[dict[str, Any]]:
            return [e for e in self.events if e["step"] > after or not e["go_on"]]

        await self._until(lambda: bool(new()) or bool(self.calls), timeout)
        return new(), list(self.calls)


class ProgressRelay:
    """Worker 0's progress display: each call goes to the driver, whose own display shows it as a local run's
    shows it (a bar on a terminal, log lines elsewhere); ticks at most every ``_TICK`` seconds."""

    live = False

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self._next = 0.0

    def start_step(self, step: int, iterations: int) -> None:
        self._next = time.monotonic() + _TICK
        self.channel.progress.remote(["start", step, iterations])

    def tick(self, done: int, loss: Any) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + _TICK
            self.channel.progress.remote(["tick", done, float(loss())])

    def end_step(self, line: Any, *, last: bool = False) -> bool:
        self.channel.progress.remote(["end", line(), last])
        return True

    def close(self) -> None:
        pass


# -- the driver -------------------------------------------------------------------------------------------------


class RayTrainRun:
    """The driver's side of one run (what ``Trainer.setup`` builds with ``executor: ray``)."""

    place: Place | None = None  # the driver has no place among the processes: it is not one of them
    scaler: Any = None
    writer: Any = None

    def __init__(self, trainer: Any, context: torchon.Context | None) -> None:
        self.trainer = trainer
        self.log = context.logger if context is not None else logging.getLogger("torchon.run")
        self._own_output = context is None
        output = (
            Path(context.output_dir) if context is not None else Path(tempfile.mkdtemp(prefix="torchon-"))
        )
        self.output = output.absolute()
        self.resume = bool(context is not None and context.resume)
        self.storage = trainer.storage or str(self.output)
        self.ready = False
        self._seen = 0
        self._starts = 0
        self._go_on = True
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._owns_ray = False
        self._channel: Any = None
        self._calls = 0  # worker 0's progress calls shown so far
        self._display: Any = None

    @classmethod
    def start(cls, trainer: Any, context: torchon.Context | None) -> RayTrainRun:
        run = cls(trainer, context)
        try:
            run._start()
        except BaseException:
            run.close()
            raise
        return run

    def _start(self) -> None:
        import ray
        from ray.train import FailureConfig, RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer

        from torchon.api import DumpError, dump_yaml
        from torchon_ray.connect import connect
        from torchon_torch.seeding import extensions_header

        trainer = self.trainer
        try:
            text = dump_yaml(trainer, extensions_header())
        except DumpError as exc:
            raise torchon.RunFailed(
                f"executor: ray needs a Trainer that can be written as a config, to build it on the Ray "
                f"workers: {exc}"
            ) from exc
        self._owns_ray = connect()
        resources, use_gpu = ray_process_resources(trainer.resources_per_process, trainer.device)
        self._channel = ray.remote(Channel).options(num_cpus=0, max_concurrency=64).remote()
        spec = {
            "config": text,
            "session": session.capture(),  # other machines: their own distributions
            "output_dir": str(self.output),
            "storage": self.storage,
            "resume": self.resume,
            "channel": self._channel,
        }
        local = self.storage == str(self.output) or not _is_uri(self.storage)
        ray_storage = (
            str(self.output / "ray-train") if local else tempfile.mkdtemp(prefix="torchon-ray-train-")
        )
        fit = TorchTrainer(
            worker_loop,
            train_loop_config=spec,
            scaling_config=ScalingConfig(
                num_workers=trainer.processes, use_gpu=use_gpu, resources_per_worker=resources
            ),
            run_config=RunConfig(
                name=f"torchon-{uuid.uuid4().hex[:12]}",
                storage_path=ray_storage,
                failure_config=FailureConfig(max_failures=trainer.max_failures),
                worker_runtime_env={"env_vars": _storage_env()},  # type: ignore[call-arg]
            ),
        )
        self.log.info(
            "training with %d Ray Train workers, each holding %s",
            trainer.processes,
            _resources_text(resources),
        )

        def target() -> None:
            try:
                fit.fit()
            except BaseException as exc:
                self._error = exc

        from torchon_torch.progress import StepProgress

        self._display = StepProgress(
            trainer.max_steps, self.log, live=trainer.progress, line_interval=trainer.log_interval
        )
        self._thread = threading.Thread(target=target, name="torchon-ray-train", daemon=True)
        self._thread.start()
        self.ready = True

    def step(self) -> bool:
        """Ask worker 0 for the next step, wait for it, report its metrics here."""
        import ray

        if not self._go_on:
            return False
        while True:
            wanted = ray.get(self._channel.ask.remote(_WAIT))
            if wanted is not None:
                break
            self._check()
        while True:
            events, calls = ray.get(self._channel.wait.remote(self._seen, self._calls, _WAIT))
            self._show(calls)
            for event in events:
                self._take(event)
            if self._seen >= wanted or not self._go_on:
                return self._go_on
            if not events:
                self._check()

    def _take(self, event: dict[str, Any]) -> None:
        trainer = self.trainer
        step = event["step"]
        if event["starts"] > self._starts:
            if self._starts:
                self.log.warning(
                    "a Ray Train worker failed; the workers started again and resumed from step %d",
                    event["resumed"],
                )
            self._starts = event["starts"]
        write_counters(trainer, event["counters"])
        if step > self._seen:
            self._seen = step
            trainer.report(step=step, **event["metrics"])
        if event.get("tensorboard"):
            uri = _join(self.storage, "tensorboard")
            try:
                storage_for(uri).download(uri, self.output / "tensorboard")
            except Exception as exc:  # a view of the run, not the run: the end copies it again
                self.log.debug("could not copy TensorBoard's events from %s: %s", uri, exc)
        if not event["go_on"]:
            self._go_on = False

    def _show(self, calls: list[list[Any]]) -> None:
        """Show worker 0's progress calls on this process's display, as a local run shows its own."""
        self._calls += len(calls)
        display = self._display
        for name, *args in calls:
            if name == "start":
                display.start_step(*args)
            elif name == "tick":
                display.tick(args[0], lambda loss=args[1]: loss)
            else:
                display.end_step(lambda line=args[0]: line, last=args[1])

    def _check(self) -> None:
        """Fail when the Ray Train run ended without saying so in the channel (its workers failed too often)."""
        if self._thread is not None and not self._thread.is_alive():
            if self._error is not None:
                raise torchon.RunFailed(f"the Ray Train run failed: {_reason(self._error)}") from self._error
            self._go_on = False
            raise torchon.RunFailed("the Ray Train run ended before the step it was asked for")

    def finish(self) -> None:
        """After the last step: worker 0 writes the results; take its final state here (the Trainer's weights,
        optimizer and counters), and copy its results to the output folder when they went to remote storage."""
        self._end()
        if self._error is not None:
            raise torchon.RunFailed(f"the Ray Train run failed: {_reason(self._error)}") from self._error
        final = _join(self.storage, "final")
        if _is_uri(self.storage) and self.storage != str(self.output):
            backend = storage_for(self.storage)
            for name in _RESULTS:
                uri = _join(self.storage, name)
                if backend.exists(uri):
                    backend.download(uri, self.output / name)
            final = str(self.output / "final")
        if Path(final).is_dir():
            trained = torchon.load(final)
            trainer = self.trainer
            trainer.model.load_state_dict(trained.model.state_dict())
            trainer.optim.load_state_dict(trained.optim.state_dict())
            if trainer.sched is not None and trained.sched is not None:
                trainer.sched.load_state_dict(trained.sched.state_dict())
            write_counters(trainer, read_counters(trained))
        else:
            self.log.warning("the Ray workers wrote no final state at %s", final)

    def _end(self) -> None:
        if self._channel is not None:
            try:
                self._channel.stop.remote()
            except Exception:
                pass
        if self._thread is not None:
            self._thread.join(timeout=600)

    def follow(self) -> None:
        raise RuntimeError("the driver of a Ray Train run follows no one")

    def close(self) -> None:
        self._end()
        if self._display is not None:
            self._display.close()
            self._display = None
        if self._channel is not None:
            import ray

            try:
                ray.kill(self._channel)
            except Exception:
                pass
            self._channel = None
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False
        if self._own_output:
            shutil.rmtree(self.output, ignore_errors=True)
        self.ready = False


# -- the workers ------------------------------------------------------------------------------------------------


def worker_loop(spec: dict[str, Any]) -> None:
    """One Ray Train worker: build the Trainer from its config, join the process group Ray Train set up, train."""
    import ray
    import ray.train

    context = ray.train.get_context()
    rank, world, local_rank = context.get_world_rank(), context.get_world_size(), context.get_local_rank()
    logging.basicConfig(level=logging.INFO, format=f"worker {rank}: %(levelname)s %(name)s: %(message)s")
    session.restore(spec["session"])
    channel = spec["channel"]
    checkpointed = ray.get(channel.checkpoint.remote())
    resume = bool(spec["resume"]) or checkpointed is not None
    storage = spec["storage"]
    remote = _is_uri(storage) and storage != spec["output_dir"]
    output = Path(tempfile.mkdtemp(prefix=f"torchon-worker{rank}-")) if remote else Path(spec["output_dir"])
    try:
        if remote and resume:
            backend = storage_for(storage)
            last = _join(storage, "checkpoints/last")
            if backend.exists(last):
                backend.download(last, output / "checkpoints" / "last")
        from torchon.api import get_env, loads

        built = loads(spec["config"], f"<trainer of Ray Train worker {rank}>").build()
        trainer = built.root
        relay = ProgressRelay(channel) if rank == 0 else None
        trainer.join(Place(rank, world, 0, local_rank=local_rank, external=True, display=relay))
        run_context = torchon.Context(
            env=get_env(), output_dir=output, resume=resume, logger=logging.getLogger("torchon.run")
        )
        with session.running(built.components, run_context):
            if rank == 0:
                _lead(trainer, channel, storage if remote else None, output)
            else:
                trainer.follow()
        if rank == 0 and remote:
            backend = storage_for(storage)
            for name in _RESULTS:
                if (output / name).exists():
                    backend.upload(output / name, _join(storage, name))
    finally:
        if remote:
            shutil.rmtree(output, ignore_errors=True)


def _lead(trainer: Any, channel: Any, storage: str | None, output: Path) -> None:
    """Worker 0: a step whenever the driver asks for one (the others follow through the process group)."""
    import ray

    ray.get(channel.hello.remote(trainer.steps_done))
    tensorboard = output / "tensorboard"
    shared = float("-inf")  # when TensorBoard's events last went to remote storage: first after step one
    while ray.get(channel.next.remote(trainer.steps_done)):
        go_on = trainer.steps_done < trainer.max_steps and trainer.step()
        checkpointed = None
        if trainer.checkpoint and (output / "checkpoints" / "last").is_dir():
            if storage is not None:
                trainer.wait_for_checkpoint()  # written: now uploaded, so that a restarted worker finds it
                storage_upload(output / "checkpoints" / "last", _join(storage, "checkpoints/last"))
            checkpointed = trainer.steps_done
        # with remote storage, TensorBoard's events reach the driver's output folder as the run goes
        share = storage is not None and tensorboard.is_dir() and time.monotonic() - shared >= _SHARE_EVERY
        if share:
            assert storage is not None
            storage_upload(tensorboard, _join(storage, "tensorboard"))
            shared = time.monotonic()
        event = {
            "step": trainer.steps_done,
            "metrics": dict(trainer.last_metrics),
            "counters": read_counters(trainer),
            "go_on": bool(go_on),
            "checkpointed": checkpointed,
            "tensorboard": share,
        }
        ray.get(channel.report.remote(event))
        if not go_on:
            break
    trainer.finish()


def storage_upload(src: Path, uri: str) -> None:
    storage_for(uri).upload(src, uri)


# -- small things -----------------------------------------------------------------------------------------------


def _storage_env() -> dict[str, str]:
    """What the workers need of this process's environment to reach the storage (S3 settings, credentials)."""
    return {k: v for k, v in os.environ.items() if k.startswith(_STORAGE_ENV)}


def _is_uri(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name if _is_uri(base) else os.path.join(base, name)


def _resources_text(resources: dict[str, float]) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in resources.items())


def _reason(exc: BaseException) -> str:
    text = [line for line in str(exc).strip().splitlines() if line.strip()]
    return (text[-1] if text else type(exc).__name__)[:1000]
