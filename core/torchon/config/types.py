"""What a config's values are checked against: constructors' type hints, and the ``Unbuilt`` marker. Public so
that plugins checking values of their own (search spaces) say the same as the kernel does."""

from __future__ import annotations

import collections.abc
import contextlib
import functools
import inspect
import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal, TypeVar, Union

from torchon._component import Partial
from torchon.config.nodes import CList, CMap, LinkNode, TagNode

__all__ = ["Unbuilt", "cached", "check_value", "describe_type", "type_hints"]

T = TypeVar("T")


@dataclass(slots=True, eq=False)
class Unbuilt:
    """What a parameter annotated ``Unbuilt`` receives: its config ``node`` as parsed, resolved and checked but not
    built, so the receiver builds it as often as it likes (a Search builds a variant per trial). ``config`` (None
    when built without one) is for error messages and for loading the same config in another process."""

    node: Any
    config: Any = None

    def __repr__(self) -> str:
        return f"Unbuilt({self.node!r})"


def cached(compute: Callable[[Any], T]) -> Callable[[Any], T]:
    """``compute(target)`` remembered per target of a config (one that cannot be hashed is computed each time)."""
    memo: dict[Any, T] = {}

    def get(target: Any) -> T:
        try:
            return memo[target]
        except (KeyError, TypeError):
            pass
        value = compute(target)
        with contextlib.suppress(TypeError):
            memo[target] = value
        return value

    return functools.wraps(compute)(get)


@cached
def type_hints(target: Any) -> dict[str, Any]:
    """The resolved type hints of ``target``'s constructor (a class) or of the callable itself, cached."""
    func = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolvable forward references: use what is not a string
        return {k: v for k, v in getattr(func, "__annotations__", {}).items() if not isinstance(v, str)}


def describe_type(hint: Any) -> str:
    """``Partial[Optim] | None`` rather than ``Optional[torchon.component.Partial[pkg.Optim]]``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " | ".join(describe_type(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if hint is type(None):
        return "None"
    if origin is not None and args:
        name = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        return f"{name}[{', '.join('...' if a is ... else describe_type(a) for a in args)}]"
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def check_value(value: Any, hint: Any) -> bool | None:
    """Whether ``value`` (as parsed: plain values and config nodes) fits ``hint``; None when that cannot be told
    before building (a link, a value tag, a hint torchon does not check)."""
    unchecked = (
        hint is None or hint is Any or hint is inspect.Parameter.empty or isinstance(hint, (str, TypeVar))
    )
    if unchecked or isinstance(value, LinkNode):
        return None
    if hint is Unbuilt:  # the receiver builds it: anything the config language can write
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        results = {check_value(value, a) for a in args}
        return True if True in results else None if None in results else False
    if origin is Literal:
        return not isinstance(value, (TagNode, CMap, CList)) and value in args
    if origin is typing.Annotated:
        return check_value(value, args[0])
    if isinstance(value, TagNode):
        if value.kind != "component":
            return None
        if origin is Partial or hint is Partial or origin is collections.abc.Callable:
            return True
        # the class it builds, when known before building
        produced = value.target if isinstance(value.target, type) else type_hints(value.target).get("return")
        expected = origin or hint
        if not isinstance(produced, type) or not isinstance(expected, type):
            return None
        try:
            return issubclass(produced, expected)
        except TypeError:
            return None
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is bool or hint is str:
        return isinstance(value, hint)
    if hint in (PurePath, os.PathLike) or (isinstance(hint, type) and issubclass(hint, PurePath)):
        return isinstance(value, str)
    if origin is Partial or origin is collections.abc.Callable:
        return False
    container = origin or hint
    if container in (list, collections.abc.Sequence, collections.abc.MutableSequence, tuple, set, frozenset):
        if container is tuple:
            item = args[0] if len(args) == 2 and args[1] is ... else None
        else:
            item = args[0] if args else None
        return isinstance(value, list) and (
            item is None or all(check_value(v, item) is not False for v in value)
        )
    if container in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return isinstance(value, dict)
    if isinstance(hint, type):
        if isinstance(value, (CMap, CList)):
            return issubclass(dict, hint) if isinstance(value, CMap) else issubclass(list, hint)
        return isinstance(value, hint)
    return None
