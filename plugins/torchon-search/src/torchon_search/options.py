"""Checking a search's options where they are written, before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torchon.config.errors import ConfigError, Mark, did_you_mean
from torchon.config.nodes import CMap, TagNode
from torchon_search.driver import ALGORITHMS, PRUNERS, SAVE_POLICIES, SearchOptions
from torchon_search.space import Dimension

__all__ = ["OPTION_NAMES", "check_options", "check_runnable", "owner_of"]

OPTION_NAMES = (
    "metric",
    "mode",
    "algorithm",
    "num_samples",
    "pruner",
    "max_concurrent",
    "resources",
    "max_failures",
    "seed",
    "executor",
    "checkpoint_every",
    "save",
)
RESOURCES = ("cpus", "gpus", "memory_mb")


def owner_of(root: Any, node: Any) -> tuple[TagNode | None, Any]:
    """The tagged node whose argument ``node`` is, and that argument's name (None when not found)."""
    stack = [root]
    seen: set[int] = set()
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, TagNode):
            for key, child in value.kwargs.items():
                if child is node:
                    return value, key
            stack.extend(value.kwargs.values())
            stack.extend(value.args)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None, None


def _mark(where: Any, key: str, fallback: Mark | None) -> Mark | None:
    if isinstance(where, TagNode):
        return where.arg_mark(key)
    if isinstance(where, CMap):
        return where.value_marks.get(key, fallback)
    return fallback


def check_options(
    values: Mapping[str, Any], where: Any, dims: list[Dimension], *, label: str = "!Search"
) -> SearchOptions:
    """:class:`SearchOptions` from ``values``, or a :class:`ConfigError` at the offending option.

    ``where`` is the tagged node or mapping the options are written in (for positions).
    """
    fallback = getattr(where, "mark", None)

    def fail(key: str, what: str, fix: str) -> ConfigError:
        return ConfigError(f"{label}: {what}", _mark(where, key, fallback), fix=fix)

    unknown = [k for k in values if k not in OPTION_NAMES]
    if unknown:
        raise fail(
            unknown[0],
            f"unknown search option {unknown[0]!r}{did_you_mean(str(unknown[0]), OPTION_NAMES)}",
            f"search options are: {', '.join(OPTION_NAMES)}",
        )
    opts = SearchOptions(**{k: v for k, v in values.items() if v is not None})
    if opts.metric is not None and (not isinstance(opts.metric, str) or not opts.metric):
        raise fail("metric", "metric must be the name of a reported metric", "write metric: loss")
    if opts.mode not in ("min", "max"):
        raise fail(
            "mode", f"mode must be min or max, got {opts.mode!r}", "write mode: min (lower is better) or max"
        )
    if opts.algorithm is not None and opts.algorithm not in ALGORITHMS:
        raise fail(
            "algorithm",
            f"unknown algorithm {opts.algorithm!r}{did_you_mean(str(opts.algorithm), ALGORITHMS)}",
            f"use one of {', '.join(ALGORITHMS)}",
        )
    for key in ("num_samples", "max_concurrent"):
        value = getattr(opts, key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise fail(key, f"{key} must be a whole number of at least 1, got {value!r}", f"write {key}: 4")
    for key in ("max_failures", "checkpoint_every"):
        value = getattr(opts, key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise fail(key, f"{key} must be a whole number, 0 or more, got {value!r}", f"write {key}: 2")
    if opts.save not in SAVE_POLICIES:
        raise fail("save", f"save must be one of {', '.join(SAVE_POLICIES)}", "write save: best")
    _check_pruner(opts.pruner, fail)
    if not isinstance(opts.resources, Mapping):
        raise fail("resources", "resources must be a mapping", "write resources: {cpus: 1, gpus: 0}")
    for key, value in opts.resources.items():
        if key not in RESOURCES:
            raise fail(
                "resources",
                f"unknown resource {key!r}{did_you_mean(str(key), RESOURCES)}",
                f"per-trial resources are {', '.join(RESOURCES)}",
            )
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise fail("resources", f"resource {key} must be a number, 0 or more", f"write {key}: 1")
    from torchon.plugins import get_manager

    executors = get_manager().executors
    if opts.executor not in executors:
        raise fail(
            "executor",
            f"executor {opts.executor!r} is not registered{did_you_mean(opts.executor, executors.names())}",
            f"known executors: {', '.join(executors.names()) or 'none'} (torchon-ray adds ray)",
        )
    algorithm = opts.algorithm or ("grid" if dims and all(d.kind == "grid" for d in dims) else "random")
    opts.algorithm = algorithm
    if algorithm == "grid":
        for dim in dims:
            if not dim.finite:
                raise ConfigError(
                    f"{label} with algorithm grid cannot enumerate !{dim.node.tag} {dim.name}: it has no finite "
                    "set of values",
                    dim.mark,
                    fix="use !grid or !choice here, or algorithm random, tpe or cmaes",
                    path=dim.node.path or None,
                )
    return opts


def _check_pruner(pruner: Any, fail: Any) -> None:
    if pruner is None or pruner == "none":
        return
    name = pruner.get("type") if isinstance(pruner, Mapping) else pruner
    if not isinstance(name, str) or name not in PRUNERS:
        raise fail(
            "pruner",
            f"unknown pruner {name!r}{did_you_mean(str(name), list(PRUNERS))}",
            f"use one of {', '.join(PRUNERS)} (or none), or a mapping {{type: asha, min_resource: 1, ...}}",
        )


def check_runnable(node: Any, label: str, needs_step: bool, what: str = "trial") -> None:
    """The node must build a runnable; a searchable one (with ``step()``) when a pruner is to stop it."""
    from torchon.component import Runnable

    if not isinstance(node, TagNode) or node.kind != "component":
        raise ConfigError(
            f"{label}'s {what} must be a tagged runnable such as !Script or !Trainer",
            getattr(node, "mark", None),
            fix="write the runnable to search under it, e.g. `trial: !Script {path: train.py}`",
        )
    target = node.target
    cls = target if isinstance(target, type) else None
    if cls is None:
        return
    if not callable(getattr(cls, "run", None)) and not issubclass(cls, Runnable):
        raise ConfigError(
            f"{label}'s {what} {node.label} is not runnable: it has no run() or step()",
            node.mark,
            fix="search a runnable (a torchon.Runnable, with step() to report metrics as it goes)",
        )
    if needs_step and not (issubclass(cls, Runnable) and cls.is_searchable()):
        raise ConfigError(
            f"{label}'s {what} {node.label} has no step(), so a pruner cannot stop it early",
            node.mark,
            fix="drop the pruner, or implement step() (one epoch) and report() the metric in it",
        )
