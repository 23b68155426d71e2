"""Building objects from a resolved, validated config tree.

Each tagged node is built once, so a YAML alias or a link to it yields the very same object. Objects that are not
:class:`~torchon.component.Component` (a ``torch.nn.Linear``) have their tag and arguments remembered beside them
(see :mod:`torchon.config.provenance`), so a tree holding them can still be written back to YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torchon.component import Component, Partial
from torchon.config import provenance
from torchon.config.errors import ConfigError
from torchon.config.nodes import CList, CMap, Index, LinkNode, TagNode

__all__ = ["Builder"]


class Builder:
    """Builds a tree; :attr:`components` lists the components built, dependencies first."""

    def __init__(self) -> None:
        self._memo: dict[int, Any] = {}
        self._active: set[int] = set()
        self.components: list[Component] = []

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
        try:
            return self._memo[key]
        except KeyError:
            pass
        if key in self._active:
            mark = getattr(node, "mark", None)
            raise ConfigError(
                "links form a cycle: an object depends on itself",
                mark,
                fix="break the cycle; a link may not point at an object that contains it",
                path=getattr(node, "path", None) or None,
            )
        self._active.add(key)
        try:
            result = make(node)
        finally:
            self._active.discard(key)
        self._memo[key] = result
        return result

    def _build_tag(self, node: TagNode) -> Any:
        args = [self.build(a) for a in node.args]
        kwargs = {k: self.build(v) for k, v in node.kwargs.items()}
        if node.kind == "value":
            value = kwargs if node.form == "mapping" else (args if node.form == "sequence" else node.raw)
            return self._call(node, node.target, [value], {})
        if node.partial:
            return Partial(node.target, kwargs, tag=node.tag, args=args)
        obj = self._call(node, node.target, args, kwargs)
        if isinstance(obj, Component):
            self.components.append(obj)
        else:
            provenance.remember(obj, node.tag, args, kwargs)
        return obj

    def _call(self, node: TagNode, target: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        try:
            return target(*args, **kwargs)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"building {node.label} failed: {type(exc).__name__}: {exc}",
                node.mark,
                fix="check the values given to it (run with --debug for the traceback)",
                path=node.path or None,
            ) from exc

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
                raise ConfigError(
                    f"link !@ {link.text}: the built {type(obj).__name__} has no {part} ({type(exc).__name__})",
                    link.mark,
                    fix="link to an attribute the object has once built",
                    path=link.path or None,
                ) from exc
        return obj
