"""Checking a resolved config against the signatures and simple type hints of what it builds, before building:
like jsonargparse, a misspelt, missing or mistyped argument is caught with its position, not halfway through a run.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any, Literal, Union

from torchon._component import Partial, init_signature
from torchon.config.errors import ConfigError, did_you_mean
from torchon.config.nodes import CList, CMap, TagNode, walk
from torchon.config.types import cached, check_value, describe_type, type_hints

__all__ = ["validate"]

_P = inspect.Parameter
_POSITIONAL = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)
_REQUIRED = (*_POSITIONAL, _P.KEYWORD_ONLY)  # unless they have a default


@cached
def _signature(target: Any) -> inspect.Signature | None:
    if isinstance(target, type):
        return init_signature(target)
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
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
    if isinstance(value, (CMap, CList)):
        return "a mapping" if isinstance(value, CMap) else "a list"
    return f"{type(value).__name__} {value!r}"


def _check_node(node: TagNode) -> None:
    sig = _signature(node.target)
    if sig is None:
        return
    params = sig.parameters
    path = node.path or None
    var_kw = any(p.kind is _P.VAR_KEYWORD for p in params.values())
    var_pos = any(p.kind is _P.VAR_POSITIONAL for p in params.values())
    positional = [p for p in params.values() if p.kind in _POSITIONAL]
    if len(node.args) > len(positional) and not var_pos:
        what = f"{node.label} takes at most {len(positional)} positional argument(s) but {len(node.args)} were given"
        fix = "give the arguments by name in a mapping (`!Name {arg: value}`)"
        raise ConfigError(what, node.arg_mark(len(positional)), fix=fix, path=path)
    bound: dict[str, Any] = {p.name: value for p, value in zip(positional, node.args)}
    keyword_names = [p.name for p in params.values() if p.kind in (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)]
    for key, value in node.kwargs.items():
        param: inspect.Parameter | None = params.get(key) if isinstance(key, str) else None
        if param is None or param.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD, _P.POSITIONAL_ONLY):
            if var_kw and isinstance(key, str) and param is None:
                continue
            what = f"{node.label} has no argument {key!r}{did_you_mean(str(key), keyword_names)}"
            fix = f"its arguments are: {', '.join(keyword_names) or '(none)'}"
            raise ConfigError(what, node.key_mark(key), fix=fix, path=path)
        if key in bound:
            what = f"argument {key!r} of {node.label} is given both by position and by name"
            raise ConfigError(what, node.key_mark(key), fix="give it once", path=path)
        bound[key] = value
    if not node.partial:
        missing = [
            n for n, p in params.items() if p.default is _P.empty and p.kind in _REQUIRED and n not in bound
        ]
        if missing:
            what = f"{node.label} is missing required argument(s): {', '.join(missing)}"
            fix = "add " + ", ".join(f"`{m}: ...`" for m in missing) + " under it"
            # the tag, or the override that removed the argument
            raise ConfigError(what, node.arg_mark(missing[0]), fix=fix, path=path)
    hints = type_hints(node.target)
    for name, value in bound.items():
        hint = hints.get(name)
        if isinstance(value, TagNode) and _wants_partial(hint):
            value.partial = True
        if check_value(value, hint) is False:
            mark = node.arg_mark(name) if name in node.kwargs else node.arg_mark(list(bound).index(name))
            expected = describe_type(hint)
            what = f"argument {name!r} of {node.label} expects {expected}, got {_show(value)}"
            literal = typing.get_origin(hint) is Literal
            fix = f"use {expected}" if literal else f"give a value of type {expected}"
            raise ConfigError(what, mark, fix=fix, path=path)


def validate(value: Any) -> None:
    """Check every component of the tree, each before the arguments it holds (it marks those it takes as
    :class:`~torchon.component.Partial`); raises :class:`ConfigError` at the first problem."""
    for node in walk(value):
        if isinstance(node, TagNode) and node.kind == "component":
            _check_node(node)
