"""What a config's values are checked against: constructors' type hints, and the ``Unbuilt`` marker.

Public so that plugins checking values of their own (search spaces) say the same as the kernel does:
:func:`type_hints` of a target, :func:`check_value` of a parsed value against a hint, :func:`describe_type` of a
hint for messages.
"""

from __future__ import annotations

import collections.abc
import inspect
import os
import types
import typing
from pathlib import PurePath
from typing import Any, Literal, Union

from torchon._component import Partial
from torchon.config.nodes import CList, CMap, LinkNode, TagNode

__all__ = ["Unbuilt", "check_value", "describe_type", "type_hints"]

_P = inspect.Parameter
_hints: dict[Any, dict[str, Any]] = {}


class Unbuilt:
    """What a parameter annotated ``Unbuilt`` receives: its config nodes as written, not built.

    The receiver builds them itself, as often as it likes: a Search builds one variant of its trial per trial,
    with its search-space tags replaced by chosen values. ``node`` is the value as parsed (a
    :class:`~torchon.config.nodes.TagNode`, a mapping, a list, a link or a plain value), resolved and checked
    like the rest of the config; ``config`` is the :class:`~torchon.config.Config` it belongs to (None when the
    tree was built without one), for error messages and for loading the same config in another process.
    """

    __slots__ = ("config", "node")

    def __init__(self, node: Any, config: Any = None) -> None:
        self.node = node
        self.config = config

    def __repr__(self) -> str:
        return f"Unbuilt({self.node!r})"


def type_hints(target: Any) -> dict[str, Any]:
    """The resolved type hints of ``target``'s constructor (a class) or of the callable itself, cached."""
    try:
        return _hints[target]
    except (KeyError, TypeError):
        pass
    func = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable forward references: use what is not a string
        hints = {k: v for k, v in getattr(func, "__annotations__", {}).items() if not isinstance(v, str)}
    try:
        _hints[target] = hints
    except TypeError:
        pass
    return hints


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


def _produces(node: TagNode) -> type | None:
    """The class a component node builds, when known before building."""
    if isinstance(node.target, type):
        return node.target
    ret = type_hints(node.target).get("return")
    return ret if isinstance(ret, type) else None


def check_value(value: Any, hint: Any) -> bool | None:
    """Whether ``value`` (as parsed: plain values and config nodes) fits ``hint``; None when that cannot be told
    before building (a link, a value tag, a hint torchon does not check)."""
    if hint is None or hint is Any or hint is _P.empty or isinstance(hint, (str, typing.TypeVar)):
        return None
    if isinstance(value, LinkNode):
        return None
    if hint is Unbuilt:  # the receiver builds it: anything the config language can write
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        results = [check_value(value, a) for a in args]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if origin is Literal:
        return not isinstance(value, (TagNode, CMap, CList)) and value in args
    if origin is typing.Annotated:
        return check_value(value, args[0])
    if isinstance(value, TagNode):
        if value.kind != "component":
            return None
        if origin is Partial or hint is Partial or origin is collections.abc.Callable:
            return True
        produced = _produces(value)
        expected = origin or hint
        if produced is None or not isinstance(expected, type):
            return None
        try:
            return issubclass(produced, expected)
        except TypeError:
            return None
    if hint is type(None) or hint is None:
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
        if not isinstance(value, list):
            return False
        item = (
            args[0]
            if args and container is not tuple
            else (args[0] if len(args) == 2 and args[1] is ... else None)
        )
        if item is not None:
            results = [check_value(v, item) for v in value]
            if any(r is False for r in results):
                return False
        return True
    if container in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return isinstance(value, dict)
    if isinstance(hint, type):
        if isinstance(value, (CMap, CList)):
            return issubclass(dict, hint) if isinstance(value, CMap) else issubclass(list, hint)
        return isinstance(value, hint)
    return None
