"""Building one variant of a trial: the config tree with chosen values in place of its search-space tags.

Nothing is copied: :class:`VariantBuilder` is the kernel's builder, told which value to build for each search
node, and which already built (loaded) object stands for each node of an upstream stage, so a downstream stage
links to the saved output of its upstream stage instead of building it again. :func:`variant_key` hashes what a
variant is made of (its resolved config and its inputs' keys): the key of caching and resume.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from torchon.api import (
    CList,
    CMap,
    Component,
    ConfigError,
    LinkNode,
    TagNode,
    TreeBuilder,
    contents,
    init_signature,
)
from torchon_search.space import Dimension, search_kind

__all__ = ["VariantBuilder", "find_path", "follow", "navigate", "node_index", "variant_key"]

Step = tuple[str, Any]  # ("kw", name) | ("arg", i) | ("key", k) | ("idx", i) | ("opt", i)


def _children(value: Any) -> Iterator[tuple[Step, Any]]:
    if search_kind(value) in ("grid", "choice"):
        for i, item in enumerate(value.args):
            yield ("opt", i), item
        return
    by_position, by_name = ("arg", "kw") if isinstance(value, TagNode) else ("idx", "key")
    positional, named = contents(value)
    for i, child in enumerate(positional):
        yield (by_position, i), child
    for k, child in named.items():
        yield (by_name, k), child


def node_index(root: Any) -> dict[int, tuple[Any, tuple[Step, ...]]]:
    """``id(node) -> (node, path from root)`` for every container node under ``root`` (root included)."""
    index: dict[int, tuple[Any, tuple[Step, ...]]] = {}
    stack: list[tuple[Any, tuple[Step, ...]]] = [(root, ())]
    while stack:
        value, path = stack.pop()
        if not isinstance(value, (TagNode, CMap, CList)) or id(value) in index:
            continue
        index[id(value)] = (value, path)
        for step, child in _children(value):
            stack.append((child, (*path, step)))
    return index


def find_path(root: Any, target: Any) -> list[Step]:
    """The path from ``root`` to the node ``target`` (identity), as JSON-able steps."""
    found = node_index(root).get(id(target))
    if found is None:
        raise LookupError("node not found under the config's root")
    return [list(s) for s in found[1]]  # type: ignore[misc]


def follow(root: Any, path: list[Any]) -> Any:
    """The node at ``path`` (from :func:`find_path`) under ``root``."""
    node = root
    for kind, key in path:
        if kind == "kw":
            node = node.kwargs[key]
        elif kind in ("arg", "opt"):
            node = node.args[key]
        else:
            node = node[key]
    return node


def navigate(obj: Any, path: tuple[Step, ...], chosen: Callable[[TagNode], int] | None = None) -> Any:
    """The part of a built object that the node at ``path`` (relative to the node ``obj`` was built from) built.

    A component's arguments are read back from what it recorded (``get_config()``), else as attributes.
    """
    for kind, key in path:
        if kind == "opt":
            continue  # a chosen option is built in the place of its search tag
        if kind in ("kw", "arg"):
            name = key
            if kind == "arg":
                params = list(init_signature(type(obj)).parameters)
                name = params[key] if key < len(params) else key
            config = obj.get_config() if isinstance(obj, Component) else {}
            obj = config[name] if name in config else getattr(obj, name)
        else:
            obj = obj[key]
    return obj


class VariantBuilder(TreeBuilder):
    """Builds a trial's tree with chosen values for its search nodes and loaded objects for upstream stages.

    :param chosen: ``id(search node) -> option index or number``.
    :param upstream: ``id(node) -> (stage, path in that stage)`` for the nodes of upstream stages.
    :param load_stage: returns the loaded output of an upstream stage.
    """

    def __init__(
        self,
        config: Any,
        chosen: Mapping[int, Any],
        upstream: Mapping[int, tuple[str, tuple[Step, ...]]] | None = None,
        load_stage: Callable[[str], Any] | None = None,
    ) -> None:
        super().__init__(config)
        self.chosen = chosen
        self.upstream = upstream or {}
        self.load_stage = load_stage

    def build(self, value: Any) -> Any:
        if isinstance(value, TagNode) and value.kind == "value" and search_kind(value) is not None:
            return self._once(value, self._build_choice)
        if self.upstream and isinstance(value, (TagNode, CMap, CList)) and id(value) in self.upstream:
            stage, path = self.upstream[id(value)]
            assert self.load_stage is not None
            return self._once(value, lambda _: navigate(self.load_stage(stage), path))  # type: ignore[misc]
        return super().build(value)

    def _build_choice(self, node: TagNode) -> Any:
        if id(node) not in self.chosen:
            raise ConfigError(
                f"!{node.tag} lies in an option that this variant did not choose, yet something links to it",
                node.mark,
                fix="link only to values that every variant has",
                path=node.path or None,
            )
        value = self.chosen[id(node)]
        if search_kind(node) in ("grid", "choice"):
            return self.build(node.args[value])
        return value


def _canonical(value: Any, chosen: Mapping[int, Any], seen: dict[int, str]) -> Any:
    if isinstance(value, TagNode):
        kind = search_kind(value)
        if kind is not None:
            picked = chosen.get(id(value))
            if kind in ("grid", "choice") and picked is not None:
                return _canonical(value.args[picked], chosen, seen)
            return {"?": value.tag} if picked is None else picked
        if id(value) in seen:
            return {"@": seen[id(value)]}
        seen[id(value)] = value.path
        return {
            "!": value.label,
            "a": [_canonical(a, chosen, seen) for a in value.args],
            "k": {str(k): _canonical(v, chosen, seen) for k, v in value.kwargs.items()},
        }
    if isinstance(value, LinkNode):
        return {"@": value.text}
    if isinstance(value, dict):
        return {str(k): _canonical(v, chosen, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v, chosen, seen) for v in value]
    return value


def variant_key(
    root: Any, dims: list[Dimension], chosen: Mapping[str, Any], inputs: Mapping[str, str], repeat: int = 0
) -> str:
    """A hash of the variant's resolved config (chosen values in place), its inputs' keys and its repeat number."""
    by_name = {d.name: d for d in dims}
    by_node = {id(by_name[n].node): v for n, v in chosen.items() if n in by_name}
    data = {"config": _canonical(root, by_node, {}), "inputs": dict(sorted(inputs.items())), "repeat": repeat}
    text = json.dumps(data, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
