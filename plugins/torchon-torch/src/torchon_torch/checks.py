"""The Trainer's checks of its arguments, made when the config is built, before anything runs.

Each failure is a :class:`torchon.ArgumentError` naming the argument, so ``torchon run`` reports it at that
argument's line in the config (``exp.yaml:14:13: error: !Trainer: argument 'val_metric': ...``) with a fix, and
exits with status 2 having written nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from torchon.api import ArgumentError, did_you_mean
from torchon_torch.metrics import Metric

__all__ = [
    "check_counts",
    "check_device",
    "check_executor",
    "make_optimizer",
    "make_scheduler",
    "monitored",
    "ray_process_resources",
]


def check_counts(values: dict[str, Any]) -> None:
    """Counts and sizes: at least 1 (or left out where optional), clipping thresholds positive."""
    for name in ("max_steps", "grad_accumulation", "processes", "checkpoint_every"):
        if values[name] < 1:
            raise ArgumentError(name, f"must be at least 1, got {values[name]}", fix=f"set {name}: 1 or more")
    for name in ("iterations_per_step", "batch_size", "patience"):
        if values[name] is not None and values[name] < 1:
            raise ArgumentError(
                name, f"must be at least 1 (or left out), got {values[name]}", fix=f"set {name}: 1 or more"
            )
    for name in ("clip_grad_norm", "clip_grad_value"):
        if values[name] is not None and not values[name] > 0:
            raise ArgumentError(
                name, f"must be positive, got {values[name]}", fix=f"set {name} above 0, or leave it out"
            )
    if not values["log_interval"] >= 0:
        raise ArgumentError(
            "log_interval",
            f"must be 0 or more seconds, got {values['log_interval']}",
            fix="set 0 (a line every step) or more",
        )
    if values["num_workers"] < 0:
        raise ArgumentError(
            "num_workers", f"must be 0 or more, got {values['num_workers']}", fix="set 0 or more"
        )


def check_device(device: str) -> None:
    """A device torch can name (whether it exists here is found when the run starts)."""
    try:
        torch.device("cpu" if device == "auto" else device)
    except (RuntimeError, ValueError):
        raise ArgumentError(
            "device", f"{device!r} is not a torch device", fix="use auto, cpu, cuda or cuda:N"
        ) from None


def check_executor(executor: Any, resources: Any, max_failures: Any, storage: Any) -> None:
    """``executor`` (and what goes with ``ray``): a known one, installed here."""
    if executor not in (None, "local", "ray"):
        raise ArgumentError(
            "executor", f"must be local or ray, got {executor!r}", fix="set executor: local or executor: ray"
        )
    if executor == "ray":
        import importlib.util

        if importlib.util.find_spec("torchon_ray") is None:
            raise ArgumentError(
                "executor",
                "ray needs the torchon-ray plugin, which is not installed",
                fix="pip install torchon-ray, or leave executor out to train on this machine",
            )
    if resources is not None:
        if not isinstance(resources, dict) or not resources:
            raise ArgumentError(
                "resources_per_process",
                f"must map Ray resource names to amounts, got {resources!r}",
                fix="write resources_per_process: {CPU: 1} or {GPU: 1}",
            )
        for key, value in resources.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ArgumentError(
                    "resources_per_process",
                    f"resource {key} must be a number, 0 or more, got {value!r}",
                    fix=f"write {key}: 1",
                )
    if not isinstance(max_failures, int) or max_failures < 0:
        raise ArgumentError(
            "max_failures", f"must be 0 or more, got {max_failures!r}", fix="set max_failures: 0 or more"
        )
    if storage is not None and not isinstance(storage, str):
        raise ArgumentError(
            "storage", f"must be a folder or a URI, got {storage!r}", fix="write storage: s3://..."
        )


def monitored(
    metrics: Sequence[Metric], val_data: Any, name: str | None, mode: str | None
) -> tuple[str | None, str | None]:
    """The validation metric to judge steps by (its bare name) and whether lower or higher is better."""
    produced = ["loss", *(m.name for m in metrics)]
    if name is None:
        if val_data is None:
            if mode is not None:
                raise ArgumentError(
                    "val_mode", "is given without validation data", fix="give val_data, or drop val_mode"
                )
            return None, None
        name = "loss"
    bare = name[4:] if name.startswith("val_") else name
    if bare not in produced:
        raise ArgumentError(
            "val_metric",
            f"{name!r} is not computed{did_you_mean(bare, produced)}: the validation computes "
            f"{', '.join(produced)}",
            fix="add the metric to metrics (e.g. metrics: [accuracy]) or pick one of these",
        )
    if val_data is None:
        raise ArgumentError(
            "val_metric",
            f"{name!r} needs validation data",
            fix="give val_data (a dataset or a DataLoader), or drop val_metric",
        )
    if mode is None:
        higher = next((m.higher_is_better for m in metrics if m.name == bare), False)
        mode = "max" if higher else "min"
    return bare, mode


def make_optimizer(optimizer: Any, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer of ``model``'s parameters, from a partial optimizer (``!torch.optim.Adam {lr: 0.001}``)."""
    what = getattr(optimizer, "tag", None) or getattr(optimizer, "__qualname__", repr(optimizer))
    use = "use one of torch.optim, e.g. optimizer: !torch.optim.Adam {lr: 0.001}"
    if not callable(optimizer):
        raise ArgumentError("optimizer", f"must be a partial optimizer, got {what}", fix=use)
    target = getattr(optimizer, "target", None)
    if isinstance(target, type) and not issubclass(target, torch.optim.Optimizer):
        raise ArgumentError(
            "optimizer",
            f"!{what} is {target.__module__}.{target.__qualname__}, not a torch optimizer",
            fix=use,
        )
    try:
        made = optimizer(model.parameters())
    except Exception as exc:
        raise ArgumentError(
            "optimizer",
            f"!{what} cannot be made: {type(exc).__name__}: {exc}",
            fix=f"check the arguments of !{what}",
        ) from None
    if not isinstance(made, torch.optim.Optimizer):
        raise ArgumentError(
            "optimizer",
            f"!{what} makes a {type(made).__module__}.{type(made).__qualname__}, not a torch optimizer",
            fix=use,
        )
    return made


def make_scheduler(scheduler: Any, optim: torch.optim.Optimizer, val_metric: str | None) -> Any:
    """The learning-rate scheduler of ``optim``, from a partial scheduler."""
    what = getattr(scheduler, "tag", None) or repr(scheduler)
    try:
        made = scheduler(optim)
    except Exception as exc:
        raise ArgumentError(
            "scheduler",
            f"!{what} cannot be made: {type(exc).__name__}: {exc}",
            fix=f"check the arguments of !{what}",
        ) from None
    if not (callable(getattr(made, "step", None)) and callable(getattr(made, "state_dict", None))):
        raise ArgumentError(
            "scheduler",
            f"!{what} is not a learning-rate scheduler (it has no step/state_dict)",
            fix="use one of torch.optim.lr_scheduler, e.g. !torch.optim.lr_scheduler.StepLR {step_size: 5}",
        )
    if isinstance(made, torch.optim.lr_scheduler.ReduceLROnPlateau) and val_metric is None:
        raise ArgumentError(
            "scheduler", "ReduceLROnPlateau needs a validation metric", fix="give val_data (and val_metric)"
        )
    return made


def ray_process_resources(
    resources: Mapping[str, float] | None, device: Any
) -> tuple[dict[str, float], bool]:
    """What each Ray Train process of a Trainer holds of a node, and whether it uses a GPU: ``resources_per_process``,
    else one GPU for a CUDA device and one CPU otherwise. One rule for the run and for a search counting it."""
    out = dict(resources or {})
    if not out:
        out = {"GPU": 1} if str(device).startswith("cuda") else {"CPU": 1}
    use_gpu = bool(out.get("GPU")) and not str(device).startswith("cpu")
    if not use_gpu:
        out.pop("GPU", None)
    return out, use_gpu
