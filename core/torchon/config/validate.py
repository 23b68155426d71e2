"""Checking a resolved config against the signatures and simple type hints of what it builds, before building.

Like jsonargparse, this catches a misspelt argument, a missing one or a string where a number belongs at parse
time, with the file position, instead of halfway through a run.
"""

from __future__ import annotations

import collections.abc
import inspect
import os
import types
import typing
from pathlib import PurePath
from typing import Any, Literal, Union

from torchon.component import Partial, init_signature
from torchon.config.build import Unbuilt
from torchon.config.errors import ConfigError, did_you_mean
from torchon.config.nodes import CList, CMap, LinkNode, TagNode

__all__ = ["validate"]

_P = inspect.Parameter
_hints: dict[Any, dict[str, Any]] = {}
_sigs: dict[Any, inspect.Signature | None] = {}


def _signature(target: Any) -> inspect.Signature | None:
    if isinstance(target, type):
        return init_signature(target)
    try:
        return _sigs[target]
    except (KeyError, TypeError):
        pass
    try:
        sig: inspect.Signature | None = inspect.signature(target)
    except (TypeError, ValueError):
        sig = None
    try:
        _sigs[target] = sig
    except TypeError:
        pass
    return sig


def _type_hints(target: Any) -> dict[str, Any]:
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


def _describe(hint: Any) -> str:
    """``Partial[Optim] | None`` rather than ``Optional[torchon.component.Partial[pkg.Optim]]``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " | ".join(_describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if hint is type(None):
        return "None"
    if origin is not None and args:
        name = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        return f"{name}[{', '.join('...' if a is ... else _describe(a) for a in args)}]"
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _produces(node: TagNode) -> type | None:
    """The class a component node builds, when known before building."""
    if isinstance(node.target, type):
        return node.target
    ret = _type_hints(node.target).get("return")
    return ret if isinstance(ret, type) else None


def _matches(value: Any, hint: Any) -> bool | None:
    """Whether ``value`` (as parsed) fits ``hint``; None when that cannot be told before building."""
    if hint is None or hint is Any or hint is _P.empty or isinstance(hint, (str, typing.TypeVar)):
        return None
    if isinstance(value, LinkNode):
        return None
    if hint is Unbuilt:  # the receiver builds it: anything the config language can write
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        results = [_matches(value, a) for a in args]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if origin is Literal:
        return not isinstance(value, (TagNode, CMap, CList)) and value in args
    if origin is typing.Annotated:
        return _matches(value, args[0])
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
            results = [_matches(v, item) for v in value]
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


def _wants_partial(hint: Any) -> bool:
    if hint is None:
        return False
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_wants_partial(a) for a in typing.get_args(hint) if a is not type(None))
    return origin is Partial or hint is Partial or origin is collections.abc.Callable


def _show(value: Any) -> str:
    if isinstance(value, TagNode):
        return value.label
    if isinstance(value, CMap):
        return "a mapping"
    if isinstance(value, CList):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _check_node(node: TagNode) -> None:
    sig = _signature(node.target)
    if sig is None:
        return
    params = sig.parameters
    hints = _type_hints(node.target)
    var_kw = any(p.kind is _P.VAR_KEYWORD for p in params.values())
    var_pos = any(p.kind is _P.VAR_POSITIONAL for p in params.values())
    positional = [p for p in params.values() if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)]
    bound: dict[str, Any] = {}
    if len(node.args) > len(positional) and not var_pos:
        raise ConfigError(
            f"{node.label} takes at most {len(positional)} positional argument(s) but {len(node.args)} were given",
            node.arg_mark(len(positional)),
            fix="give the arguments by name in a mapping (`!Name {arg: value}`)",
            path=node.path or None,
        )
    for positional_param, value in zip(positional, node.args):
        bound[positional_param.name] = value
    keyword_names = [p.name for p in params.values() if p.kind in (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)]
    for key, value in node.kwargs.items():
        param: inspect.Parameter | None = params.get(key) if isinstance(key, str) else None
        if param is None or param.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD, _P.POSITIONAL_ONLY):
            if var_kw and isinstance(key, str) and param is None:
                continue
            raise ConfigError(
                f"{node.label} has no argument {key!r}{did_you_mean(str(key), keyword_names)}",
                node.key_mark(key),
                fix=f"its arguments are: {', '.join(keyword_names) or '(none)'}",
                path=node.path or None,
            )
        if key in bound:
            raise ConfigError(
                f"argument {key!r} of {node.label} is given both by position and by name",
                node.key_mark(key),
                fix="give it once",
                path=node.path or None,
            )
        bound[key] = value
    if not node.partial:
        missing = [
            p.name
            for p in params.values()
            if p.default is _P.empty
            and p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)
            and p.name not in bound
        ]
        if missing:
            raise ConfigError(
                f"{node.label} is missing required argument(s): {', '.join(missing)}",
                node.mark,
                fix="add " + ", ".join(f"`{m}: ...`" for m in missing) + " under it",
                path=node.path or None,
            )
    for name, value in bound.items():
        hint = hints.get(name)
        if isinstance(value, TagNode) and _wants_partial(hint):
            value.partial = True
        if _matches(value, hint) is False:
            mark = node.arg_mark(name) if name in node.kwargs else node.arg_mark(list(bound).index(name))
            raise ConfigError(
                f"argument {name!r} of {node.label} expects {_describe(hint)}, got {_show(value)}",
                mark,
                fix=f"use {_describe(hint)}"
                if typing.get_origin(hint) is Literal
                else f"give a value of type {_describe(hint)}",
                path=node.path or None,
            )


def validate(value: Any) -> None:
    """Check every component of the tree; raises :class:`ConfigError` at the first problem."""
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, TagNode):
            if id(item) in seen:
                continue
            seen.add(id(item))
            if item.kind == "component":
                _check_node(item)
            stack.extend(reversed(list(item.kwargs.values())))
            stack.extend(reversed(list(item.args)))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
