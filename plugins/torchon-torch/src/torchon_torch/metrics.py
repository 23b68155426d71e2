"""Metrics the Trainer and the Evaluator compute over a data set: ``!Accuracy``, ``!MeanSquaredError``, ...

A metric accumulates sums over batches (:meth:`Metric.update`) and turns them into one number
(:meth:`Metric.compute`). Keeping sums, not per-batch averages, makes the result exact whatever the batch size, and
lets data-parallel processes add their sums up (:meth:`Metric.totals`) to get the metric of the whole data set.
Configs name a metric by tag (``!Accuracy {}``) or, for the built-ins, by name (``accuracy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

import torchon

__all__ = ["BUILTIN", "Accuracy", "MeanAbsoluteError", "MeanSquaredError", "Metric", "resolve_metrics"]


class Metric(torchon.Component):
    """A number computed over a whole data set from a model's outputs and the targets.

    Subclasses set ``name`` (what reports call it: ``val_<name>``) and ``higher_is_better``, and implement
    :meth:`update` to add a batch's contribution to the tensors in :attr:`sums` (kept as float64, on the
    outputs' device); :meth:`compute` divides the first sum by the second by default.
    """

    name: ClassVar[str] = "metric"
    higher_is_better: ClassVar[bool] = True

    def __init__(self) -> None:
        self._sums: list[Any] | None = None  # tensors, or Python numbers (cheaper on the CPU)

    def get_state(self) -> dict[str, Any]:
        return {}  # nothing learned: the running sums are reset before every pass

    def reset(self) -> None:
        self._sums = None

    def _add(self, *values: torch.Tensor | float) -> None:
        """Add a batch's values to the running sums: off the CPU as float64 tensors on their device (reading them
        would wait for it), on the CPU as Python numbers (reading costs nothing; they add up faster)."""
        sums = self._sums
        if sums is None:
            self._sums = [
                (v.item() if v.is_cpu else v.detach().to(torch.float64)) if isinstance(v, torch.Tensor) else v
                for v in values
            ]
            return
        for i, value in enumerate(values):
            if isinstance(value, torch.Tensor):
                sums[i] += value.item() if value.is_cpu else value.detach()
            else:
                sums[i] += value

    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        """The metric over everything seen since :meth:`reset` (``nan`` when nothing was seen)."""
        if self._sums is None:
            return float("nan")
        total, count = self._sums[0], self._sums[1]
        return float(total / count) if float(count) else float("nan")

    def totals(self, device: torch.device | None = None) -> list[torch.Tensor]:
        """The running sums as tensors on ``device``, for adding up across processes (in place) before
        :meth:`compute`."""
        if self._sums is None:
            return []
        self._sums = [
            s if isinstance(s, torch.Tensor) else torch.tensor(s, dtype=torch.float64, device=device)
            for s in self._sums
        ]
        return self._sums


class Accuracy(Metric):
    """The fraction of samples whose predicted class is the target: ``argmax`` over the last dimension, or
    ``output > threshold`` for one output per sample (binary)."""

    name = "accuracy"
    higher_is_better = True

    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__()
        self.threshold = threshold

    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        if output.ndim == target.ndim + 1 and output.shape[-1] > 1:
            predicted = output.argmax(dim=-1)
        else:
            predicted = (output.reshape(target.shape) > self.threshold).to(target.dtype)
        self._add((predicted == target).sum(), target.numel())


def _difference(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``output - target`` element by element, in float64 (sums of many small squares stay exact enough)."""
    return output.detach().reshape(target.shape).to(torch.float64) - target.to(torch.float64)


class MeanSquaredError(Metric):
    """The mean of ``(output - target) ** 2`` over all elements."""

    name = "mse"
    higher_is_better = False

    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        diff = _difference(output, target)
        self._add(diff.square().sum(), diff.numel())


class MeanAbsoluteError(Metric):
    """The mean of ``|output - target|`` over all elements."""

    name = "mae"
    higher_is_better = False

    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        diff = _difference(output, target)
        self._add(diff.abs().sum(), diff.numel())


BUILTIN: dict[str, type[Metric]] = {cls.name: cls for cls in (Accuracy, MeanSquaredError, MeanAbsoluteError)}


def resolve_metrics(metrics: Sequence[Metric | str]) -> list[Metric]:
    """Metric objects for ``metrics`` (objects, or names of the built-ins); raises an ``ArgumentError`` naming the
    unknown names and the known ones, or two metrics with one name."""
    from torchon.api import ArgumentError

    resolved: list[Metric] = []
    for item in metrics:
        if isinstance(item, str):
            cls = BUILTIN.get(item)
            if cls is None:
                from torchon.api import did_you_mean

                raise ArgumentError(
                    "metrics",
                    f"unknown metric {item!r}{did_you_mean(item, BUILTIN)}",
                    fix=f"use a built-in metric ({', '.join(BUILTIN)}) or a metric object, e.g. !Accuracy {{}}",
                )
            resolved.append(cls())
        elif isinstance(item, Metric):
            resolved.append(item)
        else:
            raise ArgumentError(
                "metrics",
                f"a metric must be a torchon_torch Metric or a name, got {type(item).__name__}",
                fix="name a built-in metric (accuracy) or give a metric object, e.g. !Accuracy {}",
            )
    names = [m.name for m in resolved]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if "loss" in names or doubled:
        raise ArgumentError(
            "metrics",
            f"metric name(s) {', '.join(doubled or ['loss'])} given twice ('loss' is always computed)",
            fix="give each metric once, and not loss",
        )
    return resolved
