"""One run of a Trainer: what ``Trainer.setup`` builds and ``Trainer.teardown`` takes down.

The :class:`~torchon_torch.trainer.Trainer` is the component: its arguments, their checks, and its training
state (the counters, which its bundles and checkpoints hold). A :class:`TrainingRun` is everything one run of it
sets up on top: the device and this process's place among the data-parallel processes, the batches, mixed
precision, the step loop, the progress display, the TensorBoard writer and the checkpoint writer. It reads the
Trainer's arguments and updates its counters; it knows the Trainer only as a :class:`TrainerLike`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import torchon
from torchon_torch.checkpoint import TrainingState, capture_rng, restore_rng, seed_everything
from torchon_torch.checkpoint_writer import CheckpointWriter, snapshot
from torchon_torch.data import Batches
from torchon_torch.distributed import (
    Command,
    Place,
    check_gpus,
    failed_workers,
    follow_leader,
    init_process_group,
    launch,
    send_command,
    shutdown,
)
from torchon_torch.evaluator import evaluate, pick_device
from torchon_torch.metrics import Metric
from torchon_torch.progress import StepProgress, format_duration
from torchon_torch.seeding import reseed_model

__all__ = [
    "RANK_SEED_STRIDE",
    "CarriedState",
    "TrainerLike",
    "TrainingRun",
    "read_counters",
    "write_counters",
]

logger = logging.getLogger("torchon.torch")

# Process r of a data-parallel run seeds its generators with ``seed + RANK_SEED_STRIDE * r`` (plus the steps done,
# when a resumed checkpoint lacks that process's generators). The processes must draw different numbers (dropout,
# augmentation), and with a stride of 1 process 1 of seed 0 would draw what process 0 of seed 1 draws: a neighbour
# in a seed search. With a large stride, seeds less than it apart (and runs of fewer steps) never share a stream.
# 7919 is the 1000th prime; any number above the seed ranges and step counts in use would do.
RANK_SEED_STRIDE = 7919

# Models a Trainer has trained in this process: another Trainer set up on one of them keeps its weights.
_trained: weakref.WeakSet[nn.Module] = weakref.WeakSet()


class TrainerLike(Protocol):
    """The Trainer as its run sees it: its arguments (read) and its training state (updated as it trains)."""

    # arguments (see Trainer)
    model: nn.Module
    train_data: Dataset[Any] | DataLoader[Any]
    val_data: Dataset[Any] | DataLoader[Any] | None
    batch_size: int | None
    shuffle: bool
    num_workers: int
    max_steps: int
    iterations_per_step: int | None
    grad_accumulation: int
    clip_grad_norm: float | None
    clip_grad_value: float | None
    scheduler_interval: Literal["epoch", "step"]
    val_metric: str | None
    val_mode: str | None
    patience: int | None
    device: str
    amp: bool
    amp_dtype: Literal["float16", "bfloat16"]
    seed: int | None
    seed_model: bool
    on_nan: Literal["stop", "skip"]
    processes: int
    checkpoint: bool
    checkpoint_every: int
    async_checkpoint: bool
    progress: bool
    log_interval: float
    optim: torch.optim.Optimizer
    sched: Any
    # training state: what a checkpoint and a bundle of the Trainer hold beyond the config (see read_counters)
    steps_done: int
    iterations_done: int
    updates_done: int
    epoch: int
    batch: int
    best_metric: float | None
    best_step: int | None
    bad_steps: int
    data_seed: int | None
    last_metrics: dict[str, float]
    timings: dict[str, float]

    def report(self, step: int | None = None, **metrics: float) -> None: ...


def read_counters(trainer: TrainerLike) -> dict[str, Any]:
    """The Trainer's counters, as its state and its checkpoints hold them."""
    return {
        "steps_done": trainer.steps_done,
        "iterations_done": trainer.iterations_done,
        "updates_done": trainer.updates_done,
        "epoch": trainer.epoch,
        "batch": trainer.batch,
        "best_metric": trainer.best_metric,
        "best_step": trainer.best_step,
        "bad_steps": trainer.bad_steps,
        "data_seed": trainer.data_seed,
        "last_metrics": {k: v for k, v in trainer.last_metrics.items() if math.isfinite(v)},
    }


def write_counters(trainer: TrainerLike, counters: dict[str, Any]) -> None:
    """Set the Trainer's counters from what :func:`read_counters` gave."""
    for key, value in counters.items():
        setattr(trainer, key, dict(value) if isinstance(value, dict) else value)


@dataclass
class CarriedState:
    """What a Trainer carries from one run to the next beyond its counters: what ``set_state`` (or a checkpoint)
    gave that the next run applies, and this process's bookkeeping."""

    restored: bool = False  # state set from a bundle: weights and generators come from it
    rng: dict[str, Any] | None = None  # the random generators, restored (once) at the end of the next setup
    scaler: dict[str, Any] | None = None  # the gradient scaler's state
    epoch_rng: torch.Tensor | None = None  # the generator of the current epoch's data order
    checkpointed: int | None = None  # the step of the last checkpoint written (or resumed from)
    trained_iterations: int = 0  # iterations trained in this process (the speed: over timings["train"])


class TrainingRun:
    """One run of ``trainer``, set up by :meth:`start`: :meth:`step` trains a step; :meth:`follow` is what
    processes 1..N-1 do instead; :meth:`finish` writes the run's results; :meth:`close` tears it down."""

    def __init__(
        self,
        trainer: TrainerLike,
        context: torchon.Context | None,
        *,
        place: Place | None,
        carried: CarriedState,
        metrics: Sequence[Metric],
        loss: nn.Module,
    ) -> None:
        self.trainer = trainer
        self.place = place
        self.carried = carried
        self.metrics = metrics
        self.loss = loss
        self.output = Path(context.output_dir) if context is not None else None
        self.log = context.logger if context is not None else logger
        self.ready = False
        self.failed = False
        self.writer: CheckpointWriter | None = None
        self.scaler: Any = None
        self._best_weights: dict[str, Any] | None = None
        self._tb: Any = None
        self._display: StepProgress | None = None

    @classmethod
    def start(
        cls,
        trainer: TrainerLike,
        context: torchon.Context | None,
        *,
        place: Place | None,
        carried: CarriedState,
        metrics: Sequence[Metric],
        loss: nn.Module,
    ) -> TrainingRun:
        """Pick the device, start the other processes (unless this is one of them: ``place``), seed, restore a
        checkpoint when resuming."""
        try:
            if trainer.processes > 1 and place is None:
                check_gpus(trainer.processes, trainer.device)
                place = launch(trainer, trainer.processes, context)
            run = cls(trainer, context, place=place, carried=carried, metrics=metrics, loss=loss)
            run._setup(bool(context is not None and context.resume))
        except BaseException:
            if place is not None:  # teardown is not called after a failed setup: stop the others here
                shutdown(place, clean=False)
            raise
        return run

    @property
    def rank(self) -> int:
        return self.place.rank if self.place is not None else 0

    @property
    def world(self) -> int:
        return self.place.world if self.place is not None else 1

    def _setup(self, resume: bool) -> None:
        trainer, carried = self.trainer, self.carried
        if self.place is not None:
            init_process_group(self.place, trainer.device)
        self.device = pick_device(trainer.device, self.place.local_rank if self.place is not None else 0)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world > 1 and self.device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.world))
        checkpoint = self._checkpoint_path("last")
        found = checkpoint if resume and checkpoint is not None and checkpoint.is_dir() else None
        if found is None and not carried.restored:
            if trainer.seed is not None:
                self._seed_model()
                seed_everything(trainer.seed + RANK_SEED_STRIDE * self.rank)
            trainer.data_seed = trainer.seed if trainer.seed is not None else random.randrange(2**31)
        trainer.model.to(self.device)
        _move_optimizer_state(trainer.optim, self.device)
        if found is not None:  # before the data: their order depends on the checkpoint's data seed
            self._restore_checkpoint(found)
            carried.checkpointed = trainer.steps_done
            self.log.info(
                "resumed from %s: step %d of %d, epoch %d, batch %d",
                found,
                trainer.steps_done,
                trainer.max_steps,
                trainer.epoch,
                trainer.batch,
            )
        data_seed = trainer.data_seed if trainer.data_seed is not None else 0
        self.train = Batches(
            trainer.train_data,
            batch_size=trainer.batch_size,
            shuffle=trainer.shuffle,
            seed=data_seed,
            rank=self.rank,
            world=self.world,
            num_workers=trainer.num_workers,
            what="train_data",
        )
        self.val = (
            Batches(
                trainer.val_data,
                batch_size=trainer.batch_size,
                shuffle=False,
                seed=0,
                rank=self.rank,
                world=self.world,
                num_workers=trainer.num_workers,
                what="val_data",
            )
            if trainer.val_data is not None
            else None
        )
        self.train.to(self.device)
        if self.val is not None:
            self.val.to(self.device)
        self._iterations = trainer.iterations_per_step or len(self.train)
        use_amp = trainer.amp and self.device.type == "cuda"
        if trainer.amp and not use_amp:
            self.log.info("amp is for CUDA; training in full precision on %s", self.device)
        amp_dtype = torch.float16 if trainer.amp_dtype == "float16" else torch.bfloat16
        # None without AMP: nothing is entered around a batch (a no-op context costs frames per batch)
        self._autocast: Callable[[], contextlib.AbstractContextManager[Any]] | None = (
            (lambda: torch.autocast("cuda", dtype=amp_dtype)) if use_amp else None
        )
        self.scaler = torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None
        if self.scaler is not None and carried.scaler:
            self.scaler.load_state_dict(carried.scaler)
        self.train.epoch_rng = carried.epoch_rng
        self._forward: nn.Module = trainer.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self._forward = DistributedDataParallel(
                trainer.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self._batches: Any = None
        chief = self.rank == 0
        if chief and self.output is not None:
            from torchon_torch.tensorboard import TensorBoardWriter

            self._tb = TensorBoardWriter(
                self.output / "tensorboard",
                purge_step=trainer.steps_done + 1 if trainer.steps_done else None,
                default_step=lambda: trainer.steps_done,
            )
        relayed = self.place.display if self.place is not None else None
        self._display = relayed or StepProgress(
            trainer.max_steps, self.log, live=trainer.progress and chief, line_interval=trainer.log_interval
        )
        if chief and self.output is not None:
            self.writer = CheckpointWriter(self.output, self.log, background=trainer.async_checkpoint)
        self._started = time.perf_counter()
        if carried.rng is not None:  # last: nothing after this may draw random numbers
            restore_rng(carried.rng)
            carried.rng = None
        self.ready = True

    def close(self) -> None:
        """Tear the run down: wait for the last checkpoint, stop the other processes."""
        if self._display is not None:
            self._display.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                writer.wait()  # the last checkpoint is written before the run ends
            except Exception as exc:
                if not self.failed:
                    raise
                self.log.error("the last checkpoint could not be written either: %s", exc)
        if self.place is not None:
            # the DistributedDataParallel wrapper goes while its process group is still there: destroyed
            # after it, its reducer can hang the process on exit
            self._forward = self.trainer.model
            shutdown(self.place, clean=not self.failed and self.rank == 0)
        self.ready = False

    # -- training --------------------------------------------------------------------------------------------

    def step(self) -> bool:
        """Process 0 (or the only one): train a step (the others with it); say whether to go on."""
        if self.world > 1 and self.rank == 0:
            send_command(Command.CONTINUE)
        try:
            return self._step()
        except BaseException as exc:
            self.failed = True
            if self.place is not None and isinstance(exc, Exception):
                failure = failed_workers(self.place)
                if failure is not None:  # the cause, rather than the broken connection it left
                    raise torchon.RunFailed(f"{failure} (their output is above)") from exc
            raise

    def follow(self) -> None:
        """What the other processes of a data-parallel run do: steps, as long as process 0 asks for them."""
        follow_leader(self._follower_step)

    def _follower_step(self) -> None:
        try:
            self._step()
        except BaseException:
            self.failed = True
            raise

    def _step(self) -> bool:
        trainer = self.trainer
        step = trainer.steps_done + 1
        started = time.perf_counter()
        train_loss, skipped = self._train_step(step)
        trained = time.perf_counter()
        metrics: dict[str, float] = {"train_loss": train_loss, "lr": _learning_rate(trainer.optim)}
        if skipped:
            metrics["skipped_batches"] = skipped
        improved = False
        if self.val is not None:
            results = evaluate(
                trainer.model,
                self.val.iterate(0),
                self.loss,
                self.metrics,
                self.device,
                autocast=self._autocast,
                reduce=self._all_reduce if self.world > 1 else None,
            )
            metrics.update({f"val_{name}": value for name, value in results.items()})
            value = results[trainer.val_metric] if trainer.val_metric is not None else math.nan
            improved = self._judge(value, step)
            if isinstance(trainer.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                trainer.sched.step(value)
        validated = time.perf_counter()
        trainer.steps_done = step
        trainer.last_metrics = metrics
        go_on = trainer.steps_done < trainer.max_steps and not (
            trainer.patience is not None and trainer.bad_steps >= trainer.patience
        )
        save = trainer.checkpoint and (step % trainer.checkpoint_every == 0 or not go_on)
        rngs = self._gather_rng() if save else []
        if self.rank == 0:
            trainer.report(step=step, **metrics)
            if self._tb is not None and not self._tb.listening:
                self._tb.record(step, metrics)
            if improved:
                self._keep_best()
            if save:
                self._save_checkpoint(rngs)
                self.carried.checkpointed = step
        saved = time.perf_counter()
        timings = trainer.timings
        timings["train"] += trained - started
        self.carried.trained_iterations += self._iterations
        timings["validate"] += validated - trained
        timings["checkpoint"] += saved - validated
        if self.rank == 0:
            assert self._display is not None
            self._display.end_step(
                lambda: self._step_line(step, metrics, improved, trained - started), last=not go_on
            )
            if not go_on and trainer.steps_done < trainer.max_steps:
                self.log.info(
                    "stopping early: %s has not improved for %d steps", trainer.val_metric, trainer.bad_steps
                )
        return go_on

    def _train_step(self, step: int) -> tuple[float, int]:
        """Train one step's batches; returns the mean training loss and how many batches were skipped."""
        trainer = self.trainer
        model, optim, display = self._forward, trainer.optim, self._display
        assert display is not None
        accumulate, iterations = trainer.grad_accumulation, self._iterations
        per_batch = len(self.train)
        ddp = self.world > 1
        on_nan = trainer.on_nan
        exact = self.device.type == "cpu" or on_nan == "skip"  # check every loss (free on the CPU)
        autocast, scaler = self._autocast, self.scaler
        sched = trainer.sched
        step_sched = sched if trainer.scheduler_interval == "step" and not _plateau(sched) else None
        epoch_sched = sched if trainer.scheduler_interval == "epoch" and not _plateau(sched) else None
        total = 0.0
        # off the CPU, losses stay on the device (reading one waits for the GPU): checked once, at the step's end
        losses = None if exact else torch.empty(iterations, device=self.device)
        counted = skipped = pending = 0
        first = trainer.iterations_done

        def running() -> float:  # the step's mean loss so far; only called when the progress shows it
            so_far = total if exact else float(losses[:counted].sum())  # type: ignore[index]
            return so_far / max(counted, 1)

        model.train()
        display.start_step(step, iterations)
        loss_fn, tick = self.loss, display.tick
        for i in range(iterations):
            if self._batches is None:
                self._batches = self.train.iterate(trainer.epoch, trainer.batch)
            inputs, target = next(self._batches)
            trainer.batch += 1
            last = pending + 1 == accumulate or i + 1 == iterations
            if ddp:  # gradients are summed across processes by the backward of an update's last batch only
                # what no_sync() sets, without a context per batch
                model.require_backward_grad_sync = last  # type: ignore[assignment]
            if autocast is None:
                loss = loss_fn(model(*inputs), target)
            else:
                with autocast():
                    loss = loss_fn(model(*inputs), target)
            if exact:
                value = loss.item()
                finite = math.isfinite(value)
                if ddp and on_nan == "skip":
                    finite = self._all_finite(finite)
                if not finite:
                    if on_nan == "stop":
                        self._nan(step, i + 1, first + i + 1, value)
                    skipped += 1
                    loss = None
                else:
                    total += value
                    counted += 1
            else:
                losses[i] = loss.detach()  # type: ignore[index]
                counted += 1
            if loss is not None:
                scaled = loss / accumulate if accumulate > 1 else loss
                if scaler is not None:
                    scaler.scale(scaled).backward()
                else:
                    scaled.backward()
            pending += 1
            trainer.iterations_done += 1
            if last:
                self._update(optim, scaler)
                pending = 0
                if step_sched is not None:
                    step_sched.step()
            if trainer.batch >= per_batch:
                trainer.epoch += 1
                trainer.batch = 0
                self._batches = None
                if epoch_sched is not None:
                    epoch_sched.step()
            tick(i + 1, running)
        if not exact:
            total = float(losses.sum())  # type: ignore[union-attr]
            if not math.isfinite(total):
                bad = int((~torch.isfinite(losses)).nonzero()[0])  # type: ignore[arg-type]
                self._nan(step, bad + 1, first + bad + 1, float(losses[bad]))  # type: ignore[index]
        if ddp:
            sums = torch.tensor([total, float(counted)], dtype=torch.float64, device=self.device)
            self._all_reduce(sums)
            total, counted = float(sums[0]), int(sums[1])
        return (total / counted if counted else math.nan), skipped

    def _update(self, optim: torch.optim.Optimizer, scaler: Any) -> None:
        trainer = self.trainer
        if scaler is not None:
            if trainer.clip_grad_norm is not None or trainer.clip_grad_value is not None:
                scaler.unscale_(optim)
            self._clip()
            scaler.step(optim)
            scaler.update()
        else:
            self._clip()
            optim.step()
        optim.zero_grad(set_to_none=True)
        trainer.updates_done += 1

    def _clip(self) -> None:
        trainer = self.trainer
        if trainer.clip_grad_value is not None:
            nn.utils.clip_grad_value_(trainer.model.parameters(), trainer.clip_grad_value)
        if trainer.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(trainer.model.parameters(), trainer.clip_grad_norm)

    def _nan(self, step: int, iteration: int, overall: int, value: float) -> None:
        checkpointed = self.carried.checkpointed
        last = f"step {checkpointed}" if checkpointed else "none yet"
        raise torchon.RunFailed(
            f"the training loss became {value} in iteration {iteration} of step {step} (iteration {overall} "
            "overall); stopped "
            f"before saving anything of it (last checkpoint: {last}). Lower the learning rate, clip gradients "
            "(clip_grad_norm), or set on_nan: skip to skip such batches"
        )

    def _judge(self, value: float, step: int) -> bool:
        """Whether ``value`` of the validation metric is the best so far (and remember it if so)."""
        trainer = self.trainer
        better = (
            math.isfinite(value)
            and trainer.val_mode is not None
            and (
                trainer.best_metric is None
                or (value > trainer.best_metric if trainer.val_mode == "max" else value < trainer.best_metric)
            )
        )
        if better:
            trainer.best_metric, trainer.best_step, trainer.bad_steps = value, step, 0
        else:
            trainer.bad_steps += 1
        return better

    # -- processes -------------------------------------------------------------------------------------------

    def _all_reduce(self, tensor: torch.Tensor) -> None:
        import torch.distributed as dist

        dist.all_reduce(tensor)

    def _all_finite(self, finite: bool) -> bool:
        flag = torch.tensor([0.0 if finite else 1.0], device=self.device)
        self._all_reduce(flag)
        return float(flag) == 0.0

    def _gather_rng(self) -> list[dict[str, Any]]:
        state = capture_rng()
        if self.world == 1:
            return [state]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world if self.rank == 0 else []
        dist.gather_object(state, gathered if self.rank == 0 else None, dst=0)
        return gathered

    # -- saving ----------------------------------------------------------------------------------------------

    def _checkpoint_path(self, name: str) -> Path | None:
        return self.output / "checkpoints" / name if self.output is not None else None

    def _save_checkpoint(self, rngs: list[dict[str, Any]]) -> None:
        if self.writer is None:
            return
        trainer = self.trainer
        state = TrainingState()
        state.model = trainer.model.state_dict()
        state.optimizer = trainer.optim.state_dict()
        state.scheduler = trainer.sched.state_dict() if trainer.sched is not None else None
        state.scaler = self.scaler.state_dict() if self.scaler is not None else None
        state.rng = rngs
        counters = read_counters(trainer)
        if self.train.epoch_rng is not None:
            counters["epoch_rng"] = self.train.epoch_rng
        state.progress = counters
        self.writer.save_checkpoint(state)

    def _restore_checkpoint(self, path: Path) -> None:
        trainer, carried = self.trainer, self.carried
        state = TrainingState.read(path)
        trainer.model.load_state_dict(state.model)
        trainer.optim.load_state_dict(state.optimizer)
        if trainer.sched is not None and state.scheduler is not None:
            trainer.sched.load_state_dict(state.scheduler)
        counters = dict(state.progress)
        carried.epoch_rng = counters.pop("epoch_rng", None)
        write_counters(trainer, counters)
        carried.scaler = state.scaler
        if self.rank < len(state.rng):
            carried.rng = state.rng[self.rank]
        elif trainer.seed is not None:
            seed_everything(trainer.seed + RANK_SEED_STRIDE * self.rank + trainer.steps_done)

    def _keep_best(self) -> None:
        """Save the model of the best step so far: as a bundle right away when checkpointing (so that a crash
        loses nothing), else in memory until the run ends."""
        if self.writer is None:
            return
        if self.trainer.checkpoint:
            self.writer.save_best(self.trainer.model)
        else:
            self._best_weights = snapshot(self.trainer.model.state_dict())

    def finish(self) -> None:
        """Process 0, after the last step: save the best model and the final state as bundles, write the
        summary, log the run's outcome."""
        trainer = self.trainer
        _trained.add(trainer.model)
        seconds = time.perf_counter() - self._started
        summary: dict[str, Any] = {
            "steps": trainer.steps_done,
            "iterations": trainer.iterations_done,
            "seconds": round(seconds, 3),
            "metrics": trainer.last_metrics,
            "best": {
                "metric": f"val_{trainer.val_metric}",
                "value": trainer.best_metric,
                "step": trainer.best_step,
            }
            if trainer.val_metric is not None
            else None,
            "timings": {k: round(v, 3) for k, v in trainer.timings.items()},
        }
        if self.writer is not None:
            if self._best_weights is not None:
                self.writer.save_best(trainer.model, self._best_weights)
            self.writer.wait()
            summary["timings"]["checkpoint_write"] = round(self.writer.seconds, 3)
        if self.output is not None:
            try:
                torchon.save(trainer, self.output / "final")
                summary["final"] = str(self.output / "final")
            except Exception as exc:
                self.log.warning("the final state is not saved as a bundle: %s", exc)
            if (self.output / "best").is_dir():
                summary["best_model"] = str(self.output / "best")
            (self.output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        trained = trainer.timings["train"]
        self.log.info(
            "trained %d steps (%d iterations) in %s%s%s",
            trainer.steps_done,
            trainer.iterations_done,
            format_duration(seconds),
            f", {self.carried.trained_iterations / trained:,.0f} it/s" if trained > 0 else "",
            f"; best val_{trainer.val_metric} {trainer.best_metric:.4f} at step {trainer.best_step}"
            if trainer.best_metric is not None
            else "",
        )
        if trainer.last_metrics:
            self.log.info("final: %s", _metrics_text(trainer.last_metrics))

    def _seed_model(self) -> None:
        """Give the model the initial weights it would have had had ``seed`` been set before it was built."""
        trainer = self.trainer
        assert trainer.seed is not None
        seed_everything(trainer.seed)
        if trainer.seed_model and trainer.model not in _trained:
            reseed_model(trainer.model, trainer.seed, self.log)

    def _step_line(self, step: int, metrics: dict[str, float], improved: bool, seconds: float) -> str:
        rate = self._iterations / seconds if seconds > 0 else 0.0
        return (
            f"step {step}/{self.trainer.max_steps}  {_metrics_text(metrics)}  "
            f"({self._iterations} it in {seconds:.2f}s, {rate:,.0f} it/s){'  best' if improved else ''}"
        )


def _metrics_text(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4g}" if k == "lr" else f"{k} {v:.4f}" for k, v in metrics.items())


def _learning_rate(optim: torch.optim.Optimizer) -> float:
    return float(optim.param_groups[0]["lr"])


def _plateau(scheduler: Any) -> bool:
    return isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def _move_optimizer_state(optim: torch.optim.Optimizer, device: torch.device) -> None:
    for state in optim.state.values():
        for key, value in state.items():
            if (
                isinstance(value, torch.Tensor)
                and value.device != device
                and not (key == "step" and value.ndim == 0)
            ):
                state[key] = value.to(device)
