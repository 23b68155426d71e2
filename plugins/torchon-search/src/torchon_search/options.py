"""The options of a search, declared once: ``!Search`` takes them beside its ``trial``, ``!Experiment`` at its top
level (for every stage) and under ``search: {STAGE: {...}}`` (for one stage). They are checked where they are
written, before anything runs, and errors point at the offending option.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from torchon.api import CMap, ConfigError, Mark, TagNode, did_you_mean, walk
from torchon_search.space import Dimension

__all__ = [
    "ALGORITHMS",
    "OPTION_NAMES",
    "PRUNERS",
    "SAVE_POLICIES",
    "SearchOptions",
    "check_options",
    "check_runnable",
    "owner_of",
]

ALGORITHMS = ("grid", "random", "tpe", "cmaes")
PRUNERS = {
    "median": "MedianPruner",
    "asha": "SuccessiveHalvingPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
}
SAVE_POLICIES = ("best", "all", "none")
RESOURCES = ("cpus", "gpus", "memory_mb")


@dataclass
class SearchOptions:
    """How one stage is searched.

    :ivar metric: the reported metric to optimise (its last value in a trial is the trial's result).
    :ivar mode: ``min`` or ``max``.
    :ivar algorithm: ``grid`` (every combination; the default when every dimension is a ``!grid``), ``random``
        (the default otherwise), ``tpe`` or ``cmaes`` (Optuna's samplers).
    :ivar num_samples: trials per point of the ``!grid`` dimensions (default 1 for grid, else 10).
    :ivar pruner: ``median``, ``asha`` (``successive_halving``), ``hyperband`` or ``none``; or a mapping with
        ``type`` and the Optuna pruner's arguments. Fed the metric after every ``step()``.
    :ivar max_concurrent: trials at once (default: as many as the CPUs allow; on Ray, the cluster's).
    :ivar resources: per trial: ``cpus`` (default 1), ``gpus`` (default 0), ``memory_mb`` (a limit).
    :ivar max_failures: stop the search (and fail the run) once more trials than this have failed.
    :ivar seed: seeds the sampler; a seeded search proposes the same trials again.
    :ivar executor: what runs the trials (``local``: worker processes on this machine); ``torchon run
        --executor NAME`` replaces it.
    :ivar checkpoint_every: save the trial's runnable every N steps, so that an interrupted search resumes it.
    :ivar save: whose outputs to keep as bundles: ``best`` (enough to export the best), ``all`` or ``none``.
    """

    metric: str | None = None
    mode: str = "min"
    algorithm: str | None = None
    num_samples: int | None = None
    pruner: Any = None
    max_concurrent: int | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    max_failures: int | None = None
    seed: int | None = None
    executor: str = "local"
    checkpoint_every: int = 0
    save: str = "best"


OPTION_NAMES = tuple(f.name for f in fields(SearchOptions))


def owner_of(root: Any, node: Any) -> tuple[TagNode | None, Any]:
    """The tagged node whose argument ``node`` is, and that argument's name (None when not found)."""
    for value in walk(root):
        if isinstance(value, TagNode):
            for key, child in value.kwargs.items():
                if child is node:
                    return value, key
    return None, None


def _mark(where: Any, key: str, fallback: Mark | None) -> Mark | None:
    if isinstance(where, TagNode):
        return where.arg_mark(key)
    if isinstance(where, CMap):
        return where.value_marks.get(key, fallback)
    return fallback


def check_options(
    values: Mapping[str, Any],
    where: Any,
    dims: list[Dimension],
    *,
    label: str = "!Search",
    required: Sequence[str] = (),
    arguments: Sequence[str] = (),
) -> SearchOptions:
    """:class:`SearchOptions` from ``values``, or a :class:`ConfigError` at the offending option.

    ``where`` is the tagged node or mapping the options are written in (for positions); ``required`` are options
    that must be given; ``arguments`` are the other arguments written beside the options (for did-you-mean).
    """
    fallback = getattr(where, "mark", None)

    def fail(key: str, what: str, fix: str) -> ConfigError:
        return ConfigError(f"{label}: {what}", _mark(where, key, fallback), fix=fix)

    unknown = [k for k in values if k not in OPTION_NAMES]
    if unknown:
        key = str(unknown[0])
        known = (*arguments, *OPTION_NAMES)
        what = f"{label} has no argument {key!r}" if arguments else f"{label}: unknown search option {key!r}"
        mark: Mark | None
        if isinstance(where, TagNode):
            mark = where.key_mark(key)
        else:
            mark = where.key_marks.get(key, fallback) if isinstance(where, CMap) else fallback
        raise ConfigError(
            f"{what}{did_you_mean(key, known)}",
            mark,
            fix=f"{'its arguments' if arguments else 'search options'} are: {', '.join(known)}",
        )
    missing = [k for k in required if values.get(k) is None]
    if missing:
        raise ConfigError(
            f"{label} is missing required argument(s): {', '.join(missing)}",
            fallback,
            fix="add " + ", ".join(f"`{m}: ...`" for m in missing) + " under it",
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
    from torchon.api import FIRST_PARTY, get_env, get_manager

    chosen = get_env().extra.get(
        "executor"
    )  # `torchon run --executor NAME` (checked already) wins over the config
    if chosen is not None:
        opts.executor = chosen
    executors = get_manager().table("executors")
    if opts.executor not in executors:
        raise fail(
            "executor",
            f"executor {opts.executor!r} is not registered{did_you_mean(opts.executor, executors.names())}",
            f"known executors: {', '.join(executors.names()) or 'none'}"
            + "".join(f" ({d} adds {n})" for n, d in FIRST_PARTY["executors"].items() if n not in executors),
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
    from torchon.api import Runnable

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
