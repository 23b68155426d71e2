"""What the Trainer writes while it trains: the checkpoint after each step and the best model, off the training path.

A bundle save is mostly waiting on the disk (fsyncs of the files and folders that make it durable), which on a
small model costs about as much as a training step. So the Trainer takes a *snapshot* (copies of the tensors, on
the CPU: what the bundle will hold, frozen at the end of the step) and a background thread writes it while the next
step trains. One save at a time: the next snapshot waits for the previous write, so a slow disk slows training down
rather than piling up copies. Bundles are published atomically, so a crash mid-write leaves the previous
checkpoint whole and ``--resume`` continues from it; a failed write is raised in the training thread at the next
save or at the end of the run.
"""

from __future__ import annotations

import contextvars
import copy
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import torchon
from torchon.api import recall, remember
from torchon_torch.checkpoint import TrainingState

__all__ = ["CheckpointWriter", "snapshot"]


def snapshot(value: Any) -> Any:
    """A copy of ``value`` (state dicts: nested dicts, lists, tensors, plain values) that training cannot change:
    tensors copied to the CPU, containers rebuilt."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(v) for v in value)
    return copy.deepcopy(value)


class CheckpointWriter:
    """Writes the Trainer's bundles (``checkpoints/last``, ``best``) one at a time, in a background thread or not.

    :param output: the run's output folder.
    :param background: write in a thread while training goes on (False: each save returns once written).
    """

    def __init__(self, output: Path, log: logging.Logger, *, background: bool = True) -> None:
        self.output = output
        self.background = background
        self.seconds = 0.0  # time spent writing, in whichever thread wrote
        self._log = log
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._shadow: nn.Module | None = (
            None  # a CPU copy of the model that best-model snapshots are put into
        )
        self._warned_best = False

    def save_checkpoint(self, state: TrainingState) -> None:
        """Write ``state`` as ``checkpoints/last`` (its tensors are copied now: training may change them)."""
        for name in ("model", "optimizer", "scheduler", "scaler", "progress"):
            setattr(state, name, snapshot(getattr(state, name)))
        path = self.output / "checkpoints" / "last"
        self._submit(lambda: self._save(state, path))

    def save_best(self, model: nn.Module, weights: dict[str, Any] | None = None) -> None:
        """Write ``model`` with ``weights`` (default: its weights now) as ``best``, a bundle ``torchon.load`` makes
        a model of. Failures are warned about once, not raised: the run goes on without a best bundle."""
        weights = snapshot(model.state_dict()) if weights is None else weights
        try:
            if self._shadow is None:
                self._shadow = _cpu_copy(model)
        except Exception as exc:  # a model that cannot be copied: no best bundle, said once
            self._warn_best(exc)
            return
        shadow = self._shadow

        def write() -> None:
            shadow.load_state_dict(weights)
            try:
                self._save(shadow, self.output / "best")
            except Exception as exc:
                self._warn_best(exc)

        self._submit(write)

    def _warn_best(self, exc: Exception) -> None:
        if not self._warned_best:
            self._log.warning("the best model is not saved as a bundle: %s", exc)
            self._warned_best = True

    def wait(self) -> None:
        """Return once the last save is written; raise what made it fail."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _save(self, obj: Any, path: Path) -> None:
        started = time.perf_counter()
        path.parent.mkdir(parents=True, exist_ok=True)
        torchon.save(obj, path)
        self.seconds += time.perf_counter() - started

    def _submit(self, write: Callable[[], None]) -> None:
        self.wait()
        if not self.background:
            write()
            return
        context = contextvars.copy_context()

        def target() -> None:
            try:
                context.run(write)
            except BaseException as exc:  # handed to the training thread by wait()
                self._error = exc

        # not a daemon: an exiting process finishes the write (or is killed, leaving the last whole bundle)
        self._thread = threading.Thread(target=target, name="torchon-checkpoint")
        self._thread.start()


def _cpu_copy(model: nn.Module) -> nn.Module:
    """A CPU copy of ``model`` that saves as the same config (its provenance: how it was built)."""
    with torch.no_grad():
        shadow = copy.deepcopy(model).to("cpu")
    for original, copied in zip(model.modules(), shadow.modules(), strict=True):
        made = recall(original)
        if made is not None:
            remember(copied, made.tag, made.args, made.kwargs)
    return shadow
