"""Search-space tags: ``!grid`` (``!g``), ``!choice``, ``!uniform``, ``!loguniform``, ``!randint``.

The tags are value tags: the config keeps them as nodes, and a Search (or an Experiment stage) finds them in its
unbuilt trial (:func:`find_dimensions`), has Optuna choose a value for each (:func:`suggest`), and builds the trial
with the chosen values in their place (:mod:`torchon_search.variant`). Options may be anything a config can write,
components included (``model: !choice [!my_ext.MLP {...}, !my_ext.CNN {...}]``), and may hold search tags of their
own, which then vary only when their option is chosen.

Built anywhere else, a search tag is a config error: nothing would vary it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torchon.api import CList, CMap, ConfigError, LinkNode, Mark, TagNode, contents

__all__ = [
    "KINDS",
    "Dimension",
    "choice",
    "display",
    "find_dimensions",
    "grid",
    "grid_points",
    "is_search_node",
    "loguniform",
    "randint",
    "search_kind",
    "suggest",
    "uniform",
]

KINDS = ("grid", "choice", "uniform", "loguniform", "randint")
FINITE = ("grid", "choice")


def _outside(kind: str) -> Any:
    raise ConfigError(
        f"!{kind} is not inside the trial of a !Search or a stage of an !Experiment's pipeline, so nothing varies it",
        None,
        fix="put search-space tags inside `trial:` of a !Search or inside a stage of `pipeline:`; "
        "elsewhere (including the options of !Search and !Experiment themselves) write one value",
    )


def grid(value: Any) -> Any:
    """``!grid [a, b, c]``: every value in turn (one trial per value, times the other grids)."""
    return _outside("grid")


def choice(value: Any) -> Any:
    """``!choice [a, b, c]``: one of the values, chosen by the search algorithm."""
    return _outside("choice")


def uniform(value: Any) -> Any:
    """``!uniform [lo, hi]``: a float between lo and hi."""
    return _outside("uniform")


def loguniform(value: Any) -> Any:
    """``!loguniform [lo, hi]``: a float between lo and hi (0 < lo), uniform in log scale."""
    return _outside("loguniform")


def randint(value: Any) -> Any:
    """``!randint [lo, hi]``: an integer with lo <= n <= hi (both included)."""
    return _outside("randint")


for _f in (grid, choice, uniform, loguniform, randint):
    _f.search_kind = _f.__name__  # type: ignore[attr-defined]


def search_kind(node: Any) -> str | None:
    """``"grid"``, ``"choice"``, ... for a search-space tag node, else None."""
    if isinstance(node, TagNode) and node.kind == "value":
        kind = getattr(node.target, "search_kind", None)
        return kind if isinstance(kind, str) else None
    return None


def is_search_node(node: Any) -> bool:
    return search_kind(node) is not None


@dataclass(eq=False)
class Dimension:
    """One search-space tag of a trial.

    :ivar name: where it is, relative to the trial (``model.width``, ``kwargs.lr``); Optuna's parameter name.
    :ivar parent: the finite dimension this one lies in an option of, and that option's index (it varies only
        when that option is chosen).
    """

    node: TagNode
    kind: str
    name: str
    options: list[Any] = field(default_factory=list)
    low: float = 0.0
    high: float = 0.0
    parent: Dimension | None = None
    parent_option: int = -1

    @property
    def mark(self) -> Mark:
        return self.node.mark

    @property
    def finite(self) -> bool:
        return self.kind in FINITE

    def value(self, chosen: Any) -> Any:
        """The config node (or number) a chosen index or number stands for."""
        return self.options[chosen] if self.finite else chosen


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(node: TagNode, kind: str) -> tuple[float, float]:
    example = {"uniform": "[0.0, 1.0]", "loguniform": "[1e-5, 1e-1]", "randint": "[1, 10]"}[kind]
    items = list(node.args) if node.form == "sequence" else None
    if items is None or len(items) != 2:
        raise ConfigError(
            f"!{node.tag} takes a list of two numbers, its bounds [lo, hi]",
            node.mark,
            fix=f"write !{node.tag} {example}",
            path=node.path or None,
        )
    for i, item in enumerate(items):
        if not _number(item) or (isinstance(item, float) and not math.isfinite(item)):
            raise ConfigError(
                f"!{node.tag}'s {'lower' if i == 0 else 'upper'} bound must be a finite number, got {item!r}",
                node.arg_mark(i),
                fix=f"write !{node.tag} {example}",
                path=node.path or None,
            )
        if kind == "randint" and not isinstance(item, int):
            raise ConfigError(
                f"!randint's bounds must be integers, got {item!r}",
                node.arg_mark(i),
                fix="write integer bounds (!randint [1, 10]), or use !uniform for floats",
                path=node.path or None,
            )
    low, high = items
    if low >= high:
        raise ConfigError(
            f"!{node.tag} [{low}, {high}] cannot vary: its lower bound must be below its upper bound",
            node.mark,
            fix=f"write the bounds as [lo, hi] with lo < hi, e.g. !{node.tag} {example}; for a fixed value write "
            "it without a tag",
            path=node.path or None,
        )
    if kind == "loguniform" and low <= 0:
        raise ConfigError(
            f"!loguniform [{low}, {high}]: a log-uniform range needs a lower bound above 0",
            node.arg_mark(0),
            fix="use a positive lower bound (!loguniform [1e-5, 1e-1]), or !uniform for ranges that include 0",
            path=node.path or None,
        )
    return float(low) if kind != "randint" else low, float(high) if kind != "randint" else high


def _check_hint(dim: Dimension, owner: TagNode | None, key: Any) -> None:
    """Each option (or the range's type) against the type hint of the argument the tag is written for."""
    if owner is None or owner.kind != "component":
        return
    from torchon.api import check_value, describe_type, type_hints

    name = key
    if isinstance(key, int):
        from torchon.api import init_signature

        try:
            params = [p.name for p in init_signature(owner.target).parameters.values()]
        except (TypeError, ValueError):
            return
        if key >= len(params):
            return
        name = params[key]
    hint = type_hints(owner.target).get(name)
    if hint is None:
        return
    if dim.finite:
        for i, option in enumerate(dim.options):
            if check_value(option, hint) is False:
                raise ConfigError(
                    f"option {i + 1} of !{dim.node.tag} for argument {name!r} of {owner.label} expects "
                    f"{describe_type(hint)}, got {option.label if isinstance(option, TagNode) else repr(option)}",
                    dim.node.arg_mark(i),
                    fix=f"give options of type {describe_type(hint)}",
                    path=dim.node.path or None,
                )
        return
    sample = int(dim.low) if dim.kind == "randint" else 0.5
    if check_value(sample, hint) is False:
        better = " (use !randint for integers)" if check_value(1, hint) else ""
        raise ConfigError(
            f"!{dim.node.tag} gives {'integers' if dim.kind == 'randint' else 'floats'}, but argument {name!r} "
            f"of {owner.label} expects {describe_type(hint)}{better}",
            dim.node.mark,
            fix=f"use a search tag whose values are {describe_type(hint)}: !grid or !choice of them"
            + (", or !randint" if check_value(1, hint) else ""),
            path=dim.node.path or None,
        )


def find_dimensions(root: Any, base: str = "") -> list[Dimension]:
    """The search-space tags of the tree under ``root``, parents before the dimensions in their options.

    ``base`` is the config path of ``root``, left out of the dimensions' names. Raises :class:`ConfigError` for
    malformed tags (bounds, empty lists) and options that do not fit the argument they are written for.
    """
    found: list[Dimension] = []
    seen: set[int] = set()
    names: set[str] = set()

    def name_of(node: TagNode, fallback: str) -> str:
        path = node.path or fallback
        if base and (path == base or path.startswith(base + ".") or path.startswith(base + "[")):
            path = path[len(base) :].lstrip(".")
        name, n = path or "value", 2
        while name in names:  # the same path twice (YAML aliases): keep names unique
            name, n = f"{path}#{n}", n + 1
        names.add(name)
        return name

    def walk(
        value: Any, parent: Dimension | None, option: int, owner: TagNode | None, key: Any, path: str
    ) -> None:
        """``owner``: the component ``value`` is an argument of, ``key`` which one (a name, or a position)."""
        if isinstance(value, LinkNode) or id(value) in seen:
            return
        if isinstance(value, (TagNode, CMap, CList)):
            seen.add(id(value))
        kind = search_kind(value)
        if kind is not None:
            assert isinstance(value, TagNode)
            dim = Dimension(value, kind, name_of(value, path), parent=parent, parent_option=option)
            if dim.finite:
                if value.form != "sequence" or not value.args:
                    raise ConfigError(
                        f"!{value.tag} takes a non-empty list of values"
                        + (f", got {value.raw!r}" if value.form == "scalar" else ""),
                        value.mark,
                        fix=f"write !{value.tag} [a, b, c]; for a fixed value write it without a tag",
                        path=value.path or None,
                    )
                dim.options = list(value.args)
            else:
                dim.low, dim.high = _check_range(value, kind)
            _check_hint(dim, owner, key)
            found.append(dim)
            if dim.finite:
                for i, item in enumerate(dim.options):
                    walk(item, dim, i, owner, key, f"{path}[{i}]")
            return
        arguments_of = value if isinstance(value, TagNode) else None
        positional, named = contents(value)
        for i, child in enumerate(positional):
            walk(child, parent, option, arguments_of, i, f"{path}[{i}]")
        for k, child in named.items():
            walk(child, parent, option, arguments_of, k, f"{path}.{k}")

    walk(root, None, -1, None, None, base)
    return found


def active(dim: Dimension, chosen: dict[str, Any]) -> bool:
    """Whether ``dim`` takes part given the values chosen so far (its option, up the chain, is chosen)."""
    parent = dim.parent
    option = dim.parent_option
    while parent is not None:
        if chosen.get(parent.name) != option:
            return False
        option, parent = parent.parent_option, parent.parent
    return True


def grid_points(dims: list[Dimension], enumerate_kinds: tuple[str, ...]) -> list[dict[str, int]]:
    """Every combination of the finite dimensions of ``enumerate_kinds`` (nested ones only where active)."""

    def points(i: int, chosen: dict[str, int]) -> Iterator[dict[str, int]]:
        if i == len(dims):
            yield dict(chosen)
            return
        dim = dims[i]
        if dim.kind not in enumerate_kinds or not active(dim, chosen):
            yield from points(i + 1, chosen)
            return
        for k in range(len(dim.options)):
            chosen[dim.name] = k
            yield from points(i + 1, chosen)
            del chosen[dim.name]

    return list(points(0, {}))


def suggest(trial: Any, dims: list[Dimension]) -> dict[str, Any]:
    """Ask an Optuna trial for a value of every active dimension: an option's index, or a number."""
    chosen: dict[str, Any] = {}
    for dim in dims:
        if not active(dim, chosen):
            continue
        if dim.finite:
            chosen[dim.name] = trial.suggest_categorical(dim.name, list(range(len(dim.options))))
        elif dim.kind == "randint":
            chosen[dim.name] = trial.suggest_int(dim.name, int(dim.low), int(dim.high))
        else:
            chosen[dim.name] = trial.suggest_float(dim.name, dim.low, dim.high, log=dim.kind == "loguniform")
    return chosen


def display(value: Any) -> Any:
    """A short, plain rendering of a chosen option for tables and reports."""
    if isinstance(value, TagNode):
        return value.label
    if isinstance(value, LinkNode):
        return f"!@ {value.text}"
    if isinstance(value, (CMap, dict)):
        return "{" + ", ".join(f"{k}: {display(v)}" for k, v in itertools.islice(value.items(), 4)) + "}"
    if isinstance(value, (CList, list)):
        return "[" + ", ".join(str(display(v)) for v in value[:6]) + "]"
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value


def describe(dims: list[Dimension], chosen: dict[str, Any]) -> dict[str, Any]:
    """``name -> display value`` of the chosen values, for tables and reports."""
    by_name = {d.name: d for d in dims}
    return {name: display(by_name[name].value(v)) if name in by_name else v for name, v in chosen.items()}
