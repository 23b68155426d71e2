"""Building objects from a resolved, validated config tree. Each node is built once, so a YAML alias or a link to
it yields the very same object; objects that are not components (a ``torch.nn.Linear``) have their tag and
arguments remembered beside them (:mod:`torchon.config.provenance`), so they can still be written back to YAML."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

from torchon._component import ComponentBase, Partial, init_signature
from torchon.config import provenance
from torchon.config.errors import ConfigError
from torchon.config.nodes import CList, CMap, Index, LinkNode, TagNode
from torchon.config.types import Unbuilt, cached, type_hints
from torchon.errors import ArgumentError

__all__ = ["TreeBuilder", "Unbuilt"]


def _is_unbuilt(hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_is_unbuilt(a) for a in typing.get_args(hint))
    return hint is Unbuilt


@cached
def _unbuilt_parameters(target: Any) -> frozenset[str]:
    """Names of ``target``'s parameters annotated ``Unbuilt`` (or ``Unbuilt | None``)."""
    return frozenset(k for k, v in type_hints(target).items() if k != "return" and _is_unbuilt(v))


class TreeBuilder:
    """Builds a tree; :attr:`components` lists the components built, dependencies first."""

    def __init__(self, config: Any = None) -> None:
        self.config = config  # handed to the Unbuilt arguments this builder passes on
        self._memo: dict[int, Any] = {}
        self._active: set[int] = set()
        self.components: list[ComponentBase] = []

    def built(self, node: Any) -> Any:
        """The object already built for ``node``, or None."""
        return self._memo.get(id(node))

    def build(self, value: Any) -> Any:
        if isinstance(value, TagNode):
            return self._once(value, self._build_tag)
        if isinstance(value, LinkNode):
            return self._once(value, self._build_link)
        if isinstance(value, CMap):
            return self._once(value, lambda m: {k: self.build(v) for k, v in m.items()})
        if isinstance(value, CList):
            return self._once(value, lambda items: [self.build(v) for v in items])
        if isinstance(value, dict):
            return {k: self.build(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.build(v) for v in value]
        return value

    def _once(self, node: Any, make: Any) -> Any:
        key = id(node)
        if key in self._memo:
            return self._memo[key]
        if key in self._active:
            fix = "break the cycle; a link may not point at an object that contains it"
            path = getattr(node, "path", None) or None
            what = "links form a cycle: an object depends on itself"
            raise ConfigError(what, getattr(node, "mark", None), fix=fix, path=path)
        self._active.add(key)
        try:
            result = make(node)
        finally:
            self._active.discard(key)
        self._memo[key] = result
        return result

    def _build_tag(self, node: TagNode) -> Any:
        unbuilt = _unbuilt_parameters(node.target) if node.kind == "component" else frozenset()
        names = list(init_signature(node.target).parameters) if unbuilt and node.args else []
        args = [
            Unbuilt(a, self.config) if i < len(names) and names[i] in unbuilt else self.build(a)
            for i, a in enumerate(node.args)
        ]
        kwargs = {
            k: Unbuilt(v, self.config) if k in unbuilt else self.build(v) for k, v in node.kwargs.items()
        }
        if node.kind == "value":
            value = kwargs if node.form == "mapping" else (args if node.form == "sequence" else node.raw)
            return self._call(node, node.target, [value], {})
        if node.partial:
            return Partial(node.target, kwargs, tag=node.tag, args=args)
        obj = self._call(node, node.target, args, kwargs)
        if isinstance(obj, ComponentBase):
            self.components.append(obj)
        else:
            provenance.remember(obj, node.tag, args, kwargs)
        return obj

    def _call(self, node: TagNode, target: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        try:
            return target(*args, **kwargs)
        except ConfigError as exc:
            if exc.mark is None:  # raised by a value tag's function, which cannot know where it is written
                exc.mark, exc.path = node.mark, exc.path or node.path or None
            raise
        except ArgumentError as exc:  # the component names the argument: point at where it is written
            what = f"{node.label}: argument {exc.argument!r}: {exc}"
            fix = exc.fix or f"change {exc.argument} of {node.label}"
            raise ConfigError(what, node.arg_mark(exc.argument), fix=fix, path=node.path or None) from exc
        except Exception as exc:
            what = f"building {node.label} failed: {type(exc).__name__}: {exc}"
            fix = "check the values given to it (run with --debug for the traceback)"
            raise ConfigError(what, node.mark, fix=fix, path=node.path or None) from exc

    def _build_link(self, link: LinkNode) -> Any:
        obj = self.build(link.anchor)
        for part in link.rest:
            try:
                if isinstance(part, Index):
                    obj = obj[part.key]
                elif isinstance(obj, Mapping) and part in obj and not hasattr(obj, part):
                    obj = obj[part]
                else:
                    obj = getattr(obj, part)
            except (AttributeError, KeyError, IndexError, TypeError) as exc:
                what = f"link !@ {link.text}: the built {type(obj).__name__} has no {part} ({type(exc).__name__})"
                fix = "link to an attribute the object has once built"
                raise ConfigError(what, link.mark, fix=fix, path=link.path or None) from exc
        return obj
