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

This module is the component (its arguments, their checks, its state); what one run of it sets up and the step
loop are a :class:`~torchon_torch.training_run.TrainingRun`, and its processes talk through
:mod:`torchon_torch.distributed`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import torchon
from torchon.api import ArgumentError, Partial
from torchon_torch.checkpoint import capture_rng
from torchon_torch.checkpoint_writer import CheckpointWriter
from torchon_torch.checks import (
    check_counts,
    check_device,
    check_executor,
    make_optimizer,
    make_scheduler,
    monitored,
    ray_process_resources,
)
from torchon_torch.data import Batches
from torchon_torch.distributed import Place
from torchon_torch.metrics import Metric, resolve_metrics
from torchon_torch.training_run import CarriedState, TrainingRun, read_counters, write_counters

__all__ = ["RAY_RUN", "Trainer"]

# what sets up a run of a Trainer with executor: ray (torchon-ray), imported only then
RAY_RUN = "torchon_ray.train:RayTrainRun.start"

logger = logging.getLogger("torchon.torch")


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
    :param executor: where the ``processes`` run: ``local`` (this machine, started by the Trainer itself) or
        ``ray`` (Ray Train workers placed on a Ray cluster's nodes; needs torchon-ray). Default: ``torchon run
        --executor``'s choice, else ``local``.
    :param resources_per_process: with ``executor: ray``, what each process holds of a Ray node, as Ray names
        resources (``{CPU: 1}``, ``{GPU: 1}``, custom ones); default ``{CPU: 1}``, or ``{GPU: 1}`` when ``device``
        names CUDA.
    :param max_failures: with ``executor: ray``, how many times the run resumes from its last checkpoint after a
        process (or its node) dies.
    :param storage: with ``executor: ray``, where the checkpoints go: a folder every node reaches, or a URI of a
        storage backend (``s3://bucket/prefix``); default the run's output folder.
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
        executor: Literal["local", "ray"] | None = None,
        resources_per_process: Mapping[str, float] | None = None,
        max_failures: int = 0,
        storage: str | None = None,
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
        self.executor = executor
        self.resources_per_process = (
            dict(resources_per_process) if resources_per_process is not None else None
        )
        self.max_failures = max_failures
        self.storage = storage
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.async_checkpoint = async_checkpoint
        self.progress = progress
        self.log_interval = log_interval
        check_counts(locals())
        check_device(device)
        check_executor(executor, resources_per_process, max_failures, storage)

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

        # seconds, in this process; checkpoint: what saving adds to the steps (copying, waiting for the disk)
        self.timings = {"train": 0.0, "validate": 0.0, "checkpoint": 0.0}

        self._carried = CarriedState()  # what set_state gave, for the next run; bookkeeping across runs
        self._place: Place | None = None  # in processes 1..N-1 of a data-parallel run: where (join)
        self._run: TrainingRun | None = None  # the run set up (kept after teardown: its place, its scaler)

    # -- state -----------------------------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"counters": read_counters(self), "rng": capture_rng(), "optim": self.optim}
        if self._carried.epoch_rng is not None:
            state["epoch_rng"] = self._carried.epoch_rng
        if self.sched is not None:
            state["sched"] = self.sched
        scaler = self._run.scaler if self._run is not None else None
        if scaler is not None:
            state["scaler"] = scaler.state_dict()
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        write_counters(self, state.get("counters", {}))
        carried = self._carried
        carried.rng = state.get("rng")
        carried.scaler = state.get("scaler")
        carried.epoch_rng = state.get("epoch_rng")
        carried.restored = True

    # -- lifecycle -------------------------------------------------------------------------------------------

    def best(self) -> dict[str, Any] | None:
        """The validation metric at the best step (``torchon runs`` and ``compare`` show it)."""
        if self.val_metric is None or self.best_metric is None:
            return None
        return {
            "metric": self.val_metric,
            "value": self.best_metric,
            "mode": self.val_mode,
            "at": f"step {self.best_step}",
        }

    @property
    def rank(self) -> int:
        place = self._run.place if self._run is not None else self._place
        return place.rank if place is not None else 0

    @property
    def world(self) -> int:
        place = self._run.place if self._run is not None else self._place
        return place.world if place is not None else 1

    def setup(self, context: torchon.Context | None = None) -> None:
        """Pick the device, start the other processes, seed, restore a checkpoint when resuming (see
        :class:`~torchon_torch.training_run.TrainingRun`)."""
        if self._place is None and self.placed_on() == "ray":
            from torchon.api import import_target

            # torchon-ray's side of the protocol (checked installed when the config was built)
            self._run = import_target(RAY_RUN)(self, context)
            return
        self._run = TrainingRun.start(
            self, context, place=self._place, carried=self._carried, metrics=self._metrics, loss=self._loss
        )

    def placed_on(self) -> str:
        """Where this Trainer's processes run: its ``executor``, else ``torchon run --executor`` (honoured by a
        Trainer with several processes, or outside a search's trial: a one-process trial trains where the search
        put it), else ``local``."""
        if self.executor is not None:
            return self.executor
        extra = torchon.get_env().extra
        trial = extra.get("trial") or {}
        if trial:  # a search's trial: a one-process one trains where the search put it
            return "ray" if self.processes > 1 and trial.get("executor") == "ray" else "local"
        return "ray" if extra.get("executor") == "ray" else "local"

    @classmethod
    def trial_workers(cls, arguments: Mapping[str, Any], executor: str) -> list[dict[str, float]]:
        """What each process of a search's trial holds of a Ray cluster when the trial's Trainer trains on Ray
        Train (none: it trains in the trial's own slot). A search whose trials run on ``executor`` counts these
        before it starts a trial, so trials wait for room instead of holding a slot while their workers wait."""
        processes = arguments.get("processes", 1)
        placed = arguments.get("executor")
        if placed is None:
            placed = executor if isinstance(processes, int) and processes > 1 else "local"
        if placed != "ray":
            return []
        if not isinstance(processes, int) or isinstance(processes, bool):
            raise ValueError(
                "a Trainer on Ray Train inside a search needs a fixed number of processes (write processes: N, "
                "not a search space), so the search can reserve room for each trial's processes"
            )
        resources = arguments.get("resources_per_process")
        if resources is not None and not isinstance(resources, Mapping):
            raise ValueError("resources_per_process must be a fixed mapping, not a search space")
        per_process, _ = ray_process_resources(resources, arguments.get("device", "auto"))
        return [dict(per_process) for _ in range(processes)]

    def teardown(self) -> None:
        if self._run is not None:
            self._run.close()

    def join(self, place: Place) -> None:
        """Be process ``place.rank`` of a data-parallel run (processes 1..N-1; see ``torchon_torch.distributed``):
        set up there, train whenever process 0 does, show no progress."""
        self._place = place
        self.progress = False

    def follow(self) -> None:
        """Processes 1..N-1, once set up: train the steps process 0 asks for, until it says stop."""
        self._active().follow()

    # -- training --------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Train to the end (``max_steps``, or ``patience`` run out), then save the best model and the final
        state as bundles and write the summary."""
        while self.step():
            pass
        if self.rank == 0:
            self.finish()

    def finish(self) -> None:
        """Process 0, after the last step: save the best model and the final state as bundles, write the summary
        (``run()`` ends with it; a process leading others step by step calls it itself)."""
        self._active().finish()

    def step(self) -> bool:
        """Train ``iterations_per_step`` batches, validate, keep the best model, checkpoint; say whether to go on."""
        run = self._active()
        if self.steps_done >= self.max_steps:
            return False
        return run.step()

    def _active(self) -> TrainingRun:
        if self._run is None or not self._run.ready:
            raise RuntimeError("Trainer.setup(context) must be called before step()")
        return self._run

    def wait_for_checkpoint(self) -> None:
        """Return once the last checkpoint is written (they are written in the background): before something
        else reads or copies it."""
        writer = self._run.writer if self._run is not None else None
        if writer is not None:
            writer.wait()

    # the run's training batches and checkpoint writer, for tests and benchmarks that look inside

    @property
    def _train(self) -> Batches:
        return self._active().train

    @property
    def _writer(self) -> CheckpointWriter | None:
        return self._run.writer if self._run is not None else None
