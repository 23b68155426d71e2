"""``!Trainer``: step-based PyTorch training that resumes bit for bit after a crash.

A step trains for ``iterations_per_step`` batches (one pass over the training data by default), validates, keeps
the best model by the validation metric, reports its metrics and writes a checkpoint. ``run()`` steps to the end
and saves the best model and the final state as bundles. The checkpoint holds everything the next step depends on
(weights, optimizer, scheduler, gradient scaler, every random generator, the position in the data, the counters,
the best metric), so ``torchon run CONFIG --resume`` after a crash continues as if nothing had happened.

Output folder (``OUT``)::

    checkpoints/last/   the latest step's checkpoint (a bundle of a TrainingState): what --resume reads
    best/               the model at its best validation step (a bundle: torchon.load gives the model),
                        written when the metric improves (with checkpoint: false, at the end)
    final/              the Trainer after its last step (a bundle: its config, weights and state)
    tensorboard/        TensorBoard scalars: every metric reported during the run
    summary.json        steps, time, best and final metrics
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import torchon
from torchon.component import Partial
from torchon.errors import ArgumentError
from torchon_torch.checkpoint import TrainingState, capture_rng, restore_rng, seed_everything
from torchon_torch.checks import check_counts, check_device, make_optimizer, make_scheduler, monitored
from torchon_torch.data import Batches
from torchon_torch.evaluator import evaluate, pick_device
from torchon_torch.metrics import Metric, resolve_metrics
from torchon_torch.progress import StepProgress, format_duration
from torchon_torch.saving import CheckpointWriter, snapshot
from torchon_torch.seeding import reseed_model

if TYPE_CHECKING:
    from torchon_torch.distributed import Place

__all__ = ["Trainer"]

logger = logging.getLogger("torchon.torch")

# Models a Trainer has trained in this process: another Trainer set up on one of them keeps its weights.
_trained: weakref.WeakSet[nn.Module] = weakref.WeakSet()

_CONTINUE, _STOP = 1, 0


class Trainer(torchon.Runnable):
    """Trains ``model`` on ``train_data``, a step at a time; see the module docstring and ``docs/trainer.md``.

    :param model: the ``torch.nn.Module`` to train.
    :param train_data: a dataset of ``(inputs..., target)`` items, or a ``DataLoader``.
    :param optimizer: a partial optimizer (``!torch.optim.Adam {lr: 0.001}``), called with the parameters.
    :param loss: the loss (a module averaging over the batch); default ``torch.nn.CrossEntropyLoss()``.
    :param val_data: the validation data (a dataset or a ``DataLoader``), evaluated after every step.
    :param batch_size: the global batch size, for datasets (a ``DataLoader`` brings its own); default 32.
    :param scheduler: a partial learning-rate scheduler, called with the optimizer.
    :param scheduler_interval: ``epoch`` (after each pass over the data) or ``step`` (after each optimizer update).
        ``ReduceLROnPlateau`` is stepped after each validation with the validation metric.
    :param metrics: metrics computed on the validation data, besides the loss (``[accuracy]``, ``[!Accuracy {}]``).
    :param val_metric: the validation metric that picks the best model (``loss`` or a metric's name; a ``val_``
        prefix is allowed); default ``loss`` when there is validation data.
    :param val_mode: ``max`` or ``min``: whether higher or lower is better; default: the metric's own direction.
    :param max_steps: how many steps to train.
    :param iterations_per_step: batches per step; default one pass over the training data.
    :param grad_accumulation: batches whose gradients add up before one optimizer update (a step always ends with
        an update).
    :param clip_grad_norm: clip the gradients' total norm to this.
    :param clip_grad_value: clip each gradient element to ``[-value, value]``.
    :param patience: stop after this many steps without improving the validation metric.
    :param device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``.
    :param amp: mixed precision on CUDA (autocast, and a gradient scaler for float16); ignored on the CPU.
    :param amp_dtype: ``float16`` or ``bfloat16``.
    :param seed: seeds Python, numpy and torch before training, and draws the model's initial weights (see
        ``seed_model``) and the data order; ``null`` for no seeding.
    :param seed_model: on a fresh start, build the model again from its config under ``seed`` and take its
        weights, as if the seed had been set before the config built it (a model a factory loaded is loaded
        again). Models built in Python, or trained before in this process, keep their weights.
    :param on_nan: ``stop`` the run (``RunFailed`` naming the step) when the training loss is not finite, or
        ``skip`` the batch.
    :param processes: data-parallel processes (``torch.distributed``; one per GPU, gloo on the CPU), started by
        the Trainer itself.
    :param shuffle: shuffle the training data every epoch.
    :param num_workers: ``DataLoader`` worker processes, for datasets.
    :param checkpoint: write a checkpoint after every step (needed for ``--resume``).
    :param checkpoint_every: write it every this many steps instead (and after the last): for steps so short
        that writing one costs much of a step; a resumed run redoes the steps since the last one, bit-exactly.
    :param async_checkpoint: write checkpoints and the best model in a background thread while the next step
        trains (their tensors are copied first); false: each is written before ``step()`` returns.
    :param progress: show a progress bar on a terminal (log lines are written either way).
    :param log_interval: seconds between two steps' log lines at the least: a step ending sooner after the last
        line writes none (its metrics are recorded all the same), the first and last steps always do; 0: every
        step.
    """

    VERSION = 1

    def __init__(
        self,
        model: nn.Module,
        train_data: Dataset[Any] | DataLoader[Any],
        optimizer: Partial[torch.optim.Optimizer],
        loss: nn.Module | None = None,
        val_data: Dataset[Any] | DataLoader[Any] | None = None,
        batch_size: int | None = None,
        scheduler: Partial[torch.optim.lr_scheduler.LRScheduler] | None = None,
        scheduler_interval: Literal["epoch", "step"] = "epoch",
        metrics: Sequence[Metric | str] = (),
        val_metric: str | None = None,
        val_mode: Literal["min", "max"] | None = None,
        max_steps: int = 10,
        iterations_per_step: int | None = None,
        grad_accumulation: int = 1,
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
        patience: int | None = None,
        device: str = "auto",
        amp: bool = False,
        amp_dtype: Literal["float16", "bfloat16"] = "float16",
        seed: int | None = 0,
        seed_model: bool = True,
        on_nan: Literal["stop", "skip"] = "stop",
        processes: int = 1,
        shuffle: bool = True,
        num_workers: int = 0,
        checkpoint: bool = True,
        checkpoint_every: int = 1,
        async_checkpoint: bool = True,
        progress: bool = True,
        log_interval: float = 1.0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ArgumentError(
                "model",
                f"must be a torch.nn.Module, got {type(model).__name__}",
                fix="build the model from a torch.nn class, e.g. model: !torch.nn.Sequential [...]",
            )
        self.model = model
        self.train_data = train_data
        self.val_data = val_data
        self.loss = loss
        self.batch_size = batch_size
        self.scheduler_interval = scheduler_interval
        self.metrics = metrics
        self.max_steps = max_steps
        self.iterations_per_step = iterations_per_step
        self.grad_accumulation = grad_accumulation
        self.clip_grad_norm = clip_grad_norm
        self.clip_grad_value = clip_grad_value
        self.patience = patience
        self.device = device
        self.amp = amp
        self.amp_dtype = amp_dtype
        self.seed = seed
        self.seed_model = seed_model
        self.on_nan = on_nan
        self.processes = processes
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.async_checkpoint = async_checkpoint
        self.progress = progress
        self.log_interval = log_interval
        check_counts(locals())
        check_device(device)

        self._metrics = resolve_metrics(metrics)
        self._loss = loss if loss is not None else nn.CrossEntropyLoss()
        self.val_metric, self.val_mode = monitored(self._metrics, val_data, val_metric, val_mode)
        if patience is not None and self.val_metric is None:
            raise ArgumentError("patience", "needs a validation metric", fix="give val_data (and val_metric)")
        self.optim = make_optimizer(optimizer, model)
        self.sched = make_scheduler(scheduler, self.optim, self.val_metric) if scheduler is not None else None

        # training state: what a checkpoint and a bundle of the Trainer hold beyond the config
        self.steps_done = 0
        self.iterations_done = 0
        self.updates_done = 0
        self.epoch = 0
        self.batch = 0  # the next batch of the epoch
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.bad_steps = 0
        self.data_seed: int | None = None
        self.last_metrics: dict[str, float] = {}

        self._ready = False
        self._restored = False  # state set from a bundle: weights and generators come from it
        self._checkpointed: int | None = None  # the step of the last checkpoint written (or resumed from)
        self._pending_rng: dict[str, Any] | None = None
        self._pending_scaler: dict[str, Any] | None = None
        self._epoch_rng: torch.Tensor | None = None
        self._dist: Place | None = None
        self._failed = False
        # seconds, in this process; checkpoint: what saving adds to the steps (copying, waiting for the disk)
        self.timings = {"train": 0.0, "validate": 0.0, "checkpoint": 0.0}
        self._writer: CheckpointWriter | None = None
        self._best_weights: dict[str, Any] | None = None
        self._trained_iterations = 0

    # -- state -----------------------------------------------------------------------------------------------

    def _counters(self) -> dict[str, Any]:
        return {
            "steps_done": self.steps_done,
            "iterations_done": self.iterations_done,
            "updates_done": self.updates_done,
            "epoch": self.epoch,
            "batch": self.batch,
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "bad_steps": self.bad_steps,
            "data_seed": self.data_seed,
            "last_metrics": {k: v for k, v in self.last_metrics.items() if math.isfinite(v)},
        }

    def _set_counters(self, counters: dict[str, Any]) -> None:
        for key, value in counters.items():
            setattr(self, key, dict(value) if isinstance(value, dict) else value)

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"counters": self._counters(), "rng": capture_rng(), "optim": self.optim}
        if self._epoch_rng is not None:
            state["epoch_rng"] = self._epoch_rng
        if self.sched is not None:
            state["sched"] = self.sched
        scaler = getattr(self, "_scaler", None)
        if scaler is not None:
            state["scaler"] = scaler.state_dict()
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._set_counters(state.get("counters", {}))
        self._pending_rng = state.get("rng")
        self._pending_scaler = state.get("scaler")
        self._epoch_rng = state.get("epoch_rng")
        self._restored = True

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def rank(self) -> int:
        return self._dist.rank if self._dist is not None else 0

    @property
    def world(self) -> int:
        return self._dist.world if self._dist is not None else 1

    def setup(self, context: torchon.Context | None = None) -> None:
        """Pick the device, start the other processes, seed, restore a checkpoint when resuming."""
        try:
            self._setup(context)
        except BaseException:
            if self._dist is not None:  # teardown is not called after a failed setup: stop the others here
                from torchon_torch.distributed import shutdown

                shutdown(self._dist, clean=False)
                self._dist = None
            raise

    def _setup(self, context: torchon.Context | None) -> None:
        self._output = Path(context.output_dir) if context is not None else None
        self._log = context.logger if context is not None else logger
        resume = bool(context is not None and context.resume)
        if self.processes > 1 and self._dist is None:
            from torchon_torch.distributed import check_gpus, launch

            check_gpus(self.processes, self.device)

            self._dist = launch(self, context)
        if self._dist is not None:
            from torchon_torch.distributed import init_process_group

            init_process_group(self._dist, self.device)
        self._device = pick_device(self.device, self.rank)
        if self._device.type == "cuda":
            torch.cuda.set_device(self._device)
        if self.world > 1 and self._device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.world))
        checkpoint = self._checkpoint_path("last")
        found = checkpoint if resume and checkpoint is not None and checkpoint.is_dir() else None
        if found is None and not self._restored:
            if self.seed is not None:
                self._seed_model()
                seed_everything(self.seed + 7919 * self.rank)
            self.data_seed = self.seed if self.seed is not None else random.randrange(2**31)
        self.model.to(self._device)
        _move_optimizer_state(self.optim, self._device)
        if found is not None:  # before the data: their order depends on the checkpoint's data seed
            self._restore_checkpoint(found)
            self._checkpointed = self.steps_done
            self._log.info(
                "resumed from %s: step %d of %d, epoch %d, batch %d",
                found,
                self.steps_done,
                self.max_steps,
                self.epoch,
                self.batch,
            )
        data_seed = self.data_seed if self.data_seed is not None else 0
        self._train = Batches(
            self.train_data,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            seed=data_seed,
            rank=self.rank,
            world=self.world,
            num_workers=self.num_workers,
            what="train_data",
        )
        self._val = (
            Batches(
                self.val_data,
                batch_size=self.batch_size,
                shuffle=False,
                seed=0,
                rank=self.rank,
                world=self.world,
                num_workers=self.num_workers,
                what="val_data",
            )
            if self.val_data is not None
            else None
        )
        self._train.to(self._device)
        if self._val is not None:
            self._val.to(self._device)
        self._iterations = self.iterations_per_step or len(self._train)
        use_amp = self.amp and self._device.type == "cuda"
        if self.amp and not use_amp:
            self._log.info("amp is for CUDA; training in full precision on %s", self._device)
        amp_dtype = torch.float16 if self.amp_dtype == "float16" else torch.bfloat16
        # None without AMP: nothing is entered around a batch (a no-op context costs frames per batch)
        self._autocast: Callable[[], contextlib.AbstractContextManager[Any]] | None = (
            (lambda: torch.autocast("cuda", dtype=amp_dtype)) if use_amp else None
        )
        self._scaler = torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None
        if self._scaler is not None and self._pending_scaler:
            self._scaler.load_state_dict(self._pending_scaler)
        self._train.epoch_rng = self._epoch_rng
        self._forward: nn.Module = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self._forward = DistributedDataParallel(
                self.model, device_ids=[self._device.index] if self._device.type == "cuda" else None
            )
        self._batches: Any = None
        chief = self.rank == 0
        self._tb: Any = None
        if chief and self._output is not None:
            from torchon_torch.tensorboard import TensorBoardWriter

            self._tb = TensorBoardWriter(
                self._output / "tensorboard",
                purge_step=self.steps_done + 1 if self.steps_done else None,
                default_step=lambda: self.steps_done,
            )
        self._display = StepProgress(
            self.max_steps, self._log, live=self.progress and chief, line_interval=self.log_interval
        )
        if chief and self._output is not None:
            self._writer = CheckpointWriter(self._output, self._log, background=self.async_checkpoint)
        self._started = time.perf_counter()
        if self._pending_rng is not None:  # last: nothing after this may draw random numbers
            restore_rng(self._pending_rng)
            self._pending_rng = None
        self._ready = True

    def teardown(self) -> None:
        display = getattr(self, "_display", None)
        if display is not None:
            display.close()
        if getattr(self, "_tb", None) is not None:
            self._tb.close()  # type: ignore[union-attr]
            self._tb = None
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.wait()  # the last checkpoint is written before the run ends
            except Exception as exc:
                if not self._failed:
                    raise
                self._log.error("the last checkpoint could not be written either: %s", exc)
        if self._dist is not None:
            from torchon_torch.distributed import shutdown

            # the DistributedDataParallel wrapper goes while its process group is still there: destroyed
            # after it, its reducer can hang the process on exit
            self._forward = self.model
            shutdown(self._dist, clean=not self._failed and self.rank == 0)
        self._ready = False

    # -- training --------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Train to the end (``max_steps``, or ``patience`` run out), then save the best model and the final
        state as bundles and write the summary."""
        while self.step():
            pass
        if self.rank == 0:
            self._finish()

    def step(self) -> bool:
        """Train ``iterations_per_step`` batches, validate, keep the best model, checkpoint; say whether to go on."""
        if not self._ready:
            raise RuntimeError("Trainer.setup(context) must be called before step()")
        if self.steps_done >= self.max_steps:
            return False
        if self.world > 1 and self.rank == 0:
            from torchon_torch.distributed import send_command

            send_command(_CONTINUE)
        try:
            return self._step()
        except BaseException as exc:
            self._failed = True
            if self._dist is not None and isinstance(exc, Exception):
                from torchon_torch.distributed import failed_workers

                failure = failed_workers(self._dist)
                if failure is not None:  # the cause, rather than the broken connection it left
                    raise torchon.RunFailed(f"{failure} (their output is above)") from exc
            raise

    def _worker_loop(self) -> None:
        """What the other processes of a data-parallel run do: steps, as long as process 0 asks for them."""
        from torchon_torch.distributed import receive_command

        while receive_command() == _CONTINUE:
            try:
                self._step()
            except BaseException:
                self._failed = True
                raise

    def _step(self) -> bool:
        step = self.steps_done + 1
        started = time.perf_counter()
        train_loss, skipped = self._train_step(step)
        trained = time.perf_counter()
        metrics: dict[str, float] = {"train_loss": train_loss, "lr": _learning_rate(self.optim)}
        if skipped:
            metrics["skipped_batches"] = skipped
        improved = False
        if self._val is not None:
            results = evaluate(
                self.model,
                self._val.iterate(0),
                self._loss,
                self._metrics,
                self._device,
                autocast=self._autocast,
                reduce=self._all_reduce if self.world > 1 else None,
            )
            metrics.update({f"val_{name}": value for name, value in results.items()})
            value = results[self.val_metric] if self.val_metric is not None else math.nan
            improved = self._judge(value, step)
            if isinstance(self.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.sched.step(value)
        validated = time.perf_counter()
        self.steps_done = step
        self.last_metrics = metrics
        go_on = self.steps_done < self.max_steps and not (
            self.patience is not None and self.bad_steps >= self.patience
        )
        save = self.checkpoint and (step % self.checkpoint_every == 0 or not go_on)
        rngs = self._gather_rng() if save else []
        if self.rank == 0:
            self.report(step=step, **metrics)
            if self._tb is not None and not self._tb.listening:
                self._tb.record(step, metrics)
            if improved:
                self._keep_best()
            if save:
                self._save_checkpoint(rngs)
                self._checkpointed = step
        saved = time.perf_counter()
        self.timings["train"] += trained - started
        self._trained_iterations += self._iterations
        self.timings["validate"] += validated - trained
        self.timings["checkpoint"] += saved - validated
        if self.rank == 0:
            self._display.end_step(
                lambda: self._step_line(step, metrics, improved, trained - started), last=not go_on
            )
            if not go_on and self.steps_done < self.max_steps:
                self._log.info(
                    "stopping early: %s has not improved for %d steps", self.val_metric, self.bad_steps
                )
        return go_on

    def _train_step(self, step: int) -> tuple[float, int]:
        """Train one step's batches; returns the mean training loss and how many batches were skipped."""
        model, optim, display = self._forward, self.optim, self._display
        accumulate, iterations = self.grad_accumulation, self._iterations
        per_batch = len(self._train)
        ddp = self.world > 1
        exact = self._device.type == "cpu" or self.on_nan == "skip"  # check every loss (free on the CPU)
        autocast, scaler = self._autocast, self._scaler
        step_sched = self.sched if self.scheduler_interval == "step" and not _plateau(self.sched) else None
        epoch_sched = self.sched if self.scheduler_interval == "epoch" and not _plateau(self.sched) else None
        total = 0.0
        # off the CPU, losses stay on the device (reading one waits for the GPU): checked once, at the step's end
        losses = None if exact else torch.empty(iterations, device=self._device)
        counted = skipped = pending = 0
        first = self.iterations_done

        def running() -> float:  # the step's mean loss so far; only called when the progress shows it
            so_far = total if exact else float(losses[:counted].sum())  # type: ignore[index]
            return so_far / max(counted, 1)

        model.train()
        display.start_step(step, iterations)
        loss_fn, tick = self._loss, display.tick
        for i in range(iterations):
            if self._batches is None:
                self._batches = self._train.iterate(self.epoch, self.batch)
            inputs, target = next(self._batches)
            self.batch += 1
            last = pending + 1 == accumulate or i + 1 == iterations
            if ddp:  # gradients are summed across processes by the backward of an update's last batch only
                model.require_backward_grad_sync = last  # what no_sync() sets, without a context per batch
            if autocast is None:
                loss = loss_fn(model(*inputs), target)
            else:
                with autocast():
                    loss = loss_fn(model(*inputs), target)
            if exact:
                value = loss.item()
                finite = math.isfinite(value)
                if ddp and self.on_nan == "skip":
                    finite = self._all_finite(finite)
                if not finite:
                    if self.on_nan == "stop":
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
            self.iterations_done += 1
            if last:
                self._update(optim, scaler)
                pending = 0
                if step_sched is not None:
                    step_sched.step()
            if self.batch >= per_batch:
                self.epoch += 1
                self.batch = 0
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
            sums = torch.tensor([total, float(counted)], dtype=torch.float64, device=self._device)
            self._all_reduce(sums)
            total, counted = float(sums[0]), int(sums[1])
        return (total / counted if counted else math.nan), skipped

    def _update(self, optim: torch.optim.Optimizer, scaler: Any) -> None:
        if scaler is not None:
            if self.clip_grad_norm is not None or self.clip_grad_value is not None:
                scaler.unscale_(optim)
            self._clip()
            scaler.step(optim)
            scaler.update()
        else:
            self._clip()
            optim.step()
        optim.zero_grad(set_to_none=True)
        self.updates_done += 1

    def _clip(self) -> None:
        if self.clip_grad_value is not None:
            nn.utils.clip_grad_value_(self.model.parameters(), self.clip_grad_value)
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)

    def _nan(self, step: int, iteration: int, overall: int, value: float) -> None:
        last = f"step {self._checkpointed}" if self._checkpointed else "none yet"
        raise torchon.RunFailed(
            f"the training loss became {value} in iteration {iteration} of step {step} (iteration {overall} "
            "overall); stopped "
            f"before saving anything of it (last checkpoint: {last}). Lower the learning rate, clip gradients "
            "(clip_grad_norm), or set on_nan: skip to skip such batches"
        )

    def _judge(self, value: float, step: int) -> bool:
        """Whether ``value`` of the validation metric is the best so far (and remember it if so)."""
        better = (
            math.isfinite(value)
            and self.val_mode is not None
            and (
                self.best_metric is None
                or (value > self.best_metric if self.val_mode == "max" else value < self.best_metric)
            )
        )
        if better:
            self.best_metric, self.best_step, self.bad_steps = value, step, 0
        else:
            self.bad_steps += 1
        return better

    # -- processes -------------------------------------------------------------------------------------------

    def _all_reduce(self, tensor: torch.Tensor) -> None:
        import torch.distributed as dist

        dist.all_reduce(tensor)

    def _all_finite(self, finite: bool) -> bool:
        flag = torch.tensor([0.0 if finite else 1.0], device=self._device)
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
        return self._output / "checkpoints" / name if self._output is not None else None

    def _save_checkpoint(self, rngs: list[dict[str, Any]]) -> None:
        if self._writer is None:
            return
        state = TrainingState()
        state.model = self.model.state_dict()
        state.optimizer = self.optim.state_dict()
        state.scheduler = self.sched.state_dict() if self.sched is not None else None
        state.scaler = self._scaler.state_dict() if self._scaler is not None else None
        state.rng = rngs
        counters = self._counters()
        if self._train.epoch_rng is not None:
            counters["epoch_rng"] = self._train.epoch_rng
        state.progress = counters
        self._writer.save_checkpoint(state)

    def _restore_checkpoint(self, path: Path) -> None:
        state = TrainingState.read(path)
        self.model.load_state_dict(state.model)
        self.optim.load_state_dict(state.optimizer)
        if self.sched is not None and state.scheduler is not None:
            self.sched.load_state_dict(state.scheduler)
        counters = dict(state.progress)
        self._epoch_rng = counters.pop("epoch_rng", None)
        self._set_counters(counters)
        self._pending_scaler = state.scaler
        if self.rank < len(state.rng):
            self._pending_rng = state.rng[self.rank]
        elif self.seed is not None:
            seed_everything(self.seed + 7919 * self.rank + self.steps_done)

    def _keep_best(self) -> None:
        """Save the model of the best step so far: as a bundle right away when checkpointing (so that a crash
        loses nothing), else in memory until the run ends."""
        if self._writer is None:
            return
        if self.checkpoint:
            self._writer.save_best(self.model)
        else:
            self._best_weights = snapshot(self.model.state_dict())

    def _finish(self) -> None:
        _trained.add(self.model)
        seconds = time.perf_counter() - self._started
        summary: dict[str, Any] = {
            "steps": self.steps_done,
            "iterations": self.iterations_done,
            "seconds": round(seconds, 3),
            "metrics": self.last_metrics,
            "best": {"metric": f"val_{self.val_metric}", "value": self.best_metric, "step": self.best_step}
            if self.val_metric is not None
            else None,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }
        if self._writer is not None:
            if self._best_weights is not None:
                self._writer.save_best(self.model, self._best_weights)
            self._writer.wait()
            summary["timings"]["checkpoint_write"] = round(self._writer.seconds, 3)
        if self._output is not None:
            try:
                torchon.save(self, self._output / "final")
                summary["final"] = str(self._output / "final")
            except Exception as exc:
                self._log.warning("the final state is not saved as a bundle: %s", exc)
            if (self._output / "best").is_dir():
                summary["best_model"] = str(self._output / "best")
            (self._output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        trained = self.timings["train"]
        self._log.info(
            "trained %d steps (%d iterations) in %s%s%s",
            self.steps_done,
            self.iterations_done,
            format_duration(seconds),
            f", {self._trained_iterations / trained:,.0f} it/s" if trained > 0 else "",
            f"; best val_{self.val_metric} {self.best_metric:.4f} at step {self.best_step}"
            if self.best_metric is not None
            else "",
        )
        if self.last_metrics:
            self._log.info("final: %s", _metrics_text(self.last_metrics))

    def _seed_model(self) -> None:
        """Give the model the initial weights it would have had had ``seed`` been set before it was built."""
        assert self.seed is not None
        seed_everything(self.seed)
        if self.seed_model and self.model not in _trained:
            reseed_model(self.model, self.seed, self._log)

    def _step_line(self, step: int, metrics: dict[str, float], improved: bool, seconds: float) -> str:
        rate = self._iterations / seconds if seconds > 0 else 0.0
        return (
            f"step {step}/{self.max_steps}  {_metrics_text(metrics)}  "
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
