"""``!Evaluator``: a model's loss and metrics on a data set, written to the run's output folder.

The model is linked from the config (``model: !@ ...``), built there, or loaded from a bundle by URI (``model:
runs/digits/<run>/best``, what a Trainer saves). :func:`evaluate` is the pass itself; the Trainer validates with it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import torchon
from torchon.api import ArgumentError
from torchon_torch.checks import check_device
from torchon_torch.data import Batches
from torchon_torch.metrics import Metric, resolve_metrics

__all__ = ["Evaluator", "evaluate", "pick_device"]

logger = logging.getLogger("torchon.torch")
_NULL = nullcontext()


def pick_device(spec: str, rank: int = 0) -> torch.device:
    """The device ``spec`` names (``auto``: CUDA when there is one, else the CPU); process ``rank`` of several
    takes GPU ``rank`` when no index is given."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise torchon.RunFailed(f"device {spec!r} was asked for, but CUDA is not available here")
        if device.index is None:
            device = torch.device("cuda", rank % torch.cuda.device_count())
    return device


def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[tuple[Any, ...], Any]],
    loss: Callable[[Any, Any], torch.Tensor],
    metrics: Sequence[Metric],
    device: torch.device,
    *,
    autocast: Callable[[], AbstractContextManager[Any]] | None = None,
    reduce: Callable[[torch.Tensor], None] | None = None,
) -> dict[str, float]:
    """``{"loss": ..., metric name: ...}`` over all ``batches`` (``(inputs, target)`` pairs on ``device``, as
    :meth:`Batches.iterate` gives them), the model in eval mode, without gradients.

    The loss is averaged over samples (the loss function must average over its batch). ``reduce`` adds a sum up
    across processes in place (``torch.distributed.all_reduce``), making the result that of the whole data set.
    ``autocast`` makes the context entered around each batch's forward pass (mixed precision), if any.
    """
    was_training = model.training
    model.eval()
    for metric in metrics:
        metric.reset()
    on_cpu = device.type == "cpu"  # sums as Python floats (cheaper), else on the device (no waiting)
    loss_sum: Any = 0.0 if on_cpu else torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    try:
        with torch.inference_mode():  # cheaper than no_grad: nothing computed here is ever differentiated
            for inputs, target in batches:
                n = len(target)
                if n == 0:
                    continue
                with autocast() if autocast is not None else _NULL:
                    output = model(*inputs)
                    value = loss(output, target)
                loss_sum += value.item() * n if on_cpu else value.detach().to(torch.float64) * n
                count += n
                for metric in metrics:
                    metric.update(output, target)
    finally:
        model.train(was_training)
    if reduce is not None:
        sums = torch.tensor([float(loss_sum), float(count)], dtype=torch.float64, device=device)
        reduce(sums)
        loss_sum, count = float(sums[0]), int(sums[1])
        for metric in metrics:
            for total in metric.totals(device):
                reduce(total)
    results = {"loss": float(loss_sum) / count if count else float("nan")}
    for metric in metrics:
        results[metric.name] = metric.compute()
    return results


class Evaluator(torchon.Runnable):
    """Computes a model's loss and metrics on ``data`` and writes them to ``OUT/evaluation.json``.

    :param model: the model, or the URI of a bundle holding it (a Trainer's ``OUT/best``).
    :param data: a dataset or a ``DataLoader`` yielding ``(inputs..., target)``.
    :param metrics: metric objects (``!Accuracy {}``) or names of the built-ins (``accuracy``, ``mse``, ``mae``).
    :param loss: the loss to report (default: cross-entropy).
    :param batch_size: for a dataset.
    :param device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``.
    """

    def __init__(
        self,
        model: nn.Module | str,
        data: Dataset[Any] | DataLoader[Any],
        metrics: Sequence[Metric | str] = (),
        loss: nn.Module | None = None,
        batch_size: int = 256,
        device: str = "auto",
    ) -> None:
        self.model = model
        self.data = data
        self.metrics = metrics
        self.loss = loss
        self.batch_size = batch_size
        self.device = device
        self._metrics = resolve_metrics(metrics)
        check_device(device)
        if batch_size < 1:
            raise ArgumentError(
                "batch_size", f"must be at least 1, got {batch_size}", fix="set batch_size: 1 or more"
            )
        self.results: dict[str, float] = {}
        self._output: Path | None = None

    def get_state(self) -> dict[str, Any]:
        return {"results": dict(self.results)}

    def setup(self, context: torchon.Context | None = None) -> None:
        self._output = context.output_dir if context is not None else None

    def _model(self) -> nn.Module:
        if isinstance(self.model, nn.Module):
            return self.model
        uri = os.fspath(self.model)
        loaded = torchon.load(uri)
        if not isinstance(loaded, nn.Module):
            raise torchon.RunFailed(f"{uri} holds a {type(loaded).__qualname__}, not a torch model")
        return loaded

    def evaluate(self) -> dict[str, float]:
        """The loss and the metrics on ``data``."""
        device = pick_device(self.device)
        model = self._model().to(device)
        batches = Batches(self.data, batch_size=self.batch_size, shuffle=False, seed=0, what="data")
        batches.to(device)
        loss = self.loss if self.loss is not None else nn.CrossEntropyLoss()
        return evaluate(model, batches.iterate(0), loss, self._metrics, device)

    def run(self) -> None:
        self.results = self.evaluate()
        self.report(None, **self.results)  # type: ignore[arg-type]  # names are metric names, never 'step'
        logger.info(
            "evaluation: %s", "  ".join(f"{name} {value:.4f}" for name, value in self.results.items())
        )
        if self._output is not None:
            record = {
                "model": self.model if isinstance(self.model, str) else type(self.model).__qualname__,
                "metrics": self.results,
            }
            path = self._output / "evaluation.json"
            path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            logger.info("metrics written to %s", path)
