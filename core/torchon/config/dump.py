"""Writing objects back as a torchon config (``config.yaml`` in runs and bundles): the inverse of loading.

Components give their arguments (:meth:`Component.get_config`), other objects built from a config what
:mod:`torchon.config.provenance` remembered. An object met again becomes a link (``!@ path``) to its first place, so
shared objects stay shared when the YAML is loaded again.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, NamedTuple

from ruamel.yaml import YAML
from ruamel.yaml.representer import SafeRepresenter

from torchon._component import ComponentBase, Partial
from torchon.artifact import Artifact
from torchon.config import provenance
from torchon.config.nodes import Index, LinkNode, TagNode, path_text
from torchon.errors import TorchonError

__all__ = [
    "DumpError",
    "Dumped",
    "dump_tree",
    "dump_yaml",
    "emit_nodes",
    "emit_yaml",
    "inline_yaml",
    "tag_for",
]


class DumpError(TorchonError, TypeError):
    """An object in the tree cannot be written as config."""


@dataclass(slots=True, eq=False)
class _Tagged:
    """A tagged value to write; a link is ``_Tagged("@", path)``."""

    tag: str
    value: Any  # the bundle points an !artifact entry at its copy (torchon.bundle.artifacts.carry_into)


class _Representer(SafeRepresenter):
    def represent_tagged(self, data: _Tagged) -> Any:
        tag = "!" + data.tag
        if isinstance(data.value, dict):
            return self.represent_mapping(tag, data.value)
        if isinstance(data.value, list):
            return self.represent_sequence(tag, data.value)
        return self.represent_scalar(tag, "" if data.value is None else str(data.value))


_Representer.add_representer(_Tagged, _Representer.represent_tagged)


def tag_for(target: Any) -> str:
    """The tag that builds ``target`` (a class, or a classmethod factory bound to one)."""
    owner = getattr(target, "__self__", None)
    if isinstance(owner, type):
        return f"{tag_for(owner)}.{target.__name__}"
    from torchon.plugins import get_manager

    module, qualname = getattr(target, "__module__", "?"), getattr(target, "__qualname__", repr(target))
    manager = get_manager()
    entry = manager.tags.by_target(f"{module}:{qualname}")
    if entry is not None:
        return entry.name
    for ns in manager.namespaces:
        ns_module = sys.modules.get(ns.options["module"])
        if ns_module is not None and getattr(ns_module, qualname, None) is target:
            return f"{ns.name}.{qualname}"
    return f"{module}.{qualname}"


class _Converter:
    """Paths are lists of keys and :class:`Index` positions."""

    def __init__(self) -> None:
        self.seen: dict[int, list[Any]] = {}
        # (path text, object) of every object with a tag, first place only
        self.nodes: list[tuple[str, Any]] = []
        self.tags: set[str] = set()
        self.artifacts: list[tuple[Any, _Tagged]] = []  # (artifact, its entry): a bundle carries the files

    def link_to(self, target: list[Any], here: list[Any]) -> _Tagged:
        common = 0
        while common < min(len(target), len(here)) and target[common] == here[common]:
            common += 1
        while common > 0 and isinstance(target[common], Index):
            common -= 1
        return _Tagged("@", path_text(target[common:]))

    def convert(self, obj: Any, path: list[Any]) -> Any:
        # !artifact values: a bundle carries their files (torchon.bundle.artifacts)
        if isinstance(obj, Artifact):
            self.artifacts.append((obj, _Tagged("artifact", obj.uri)))
            return self.artifacts[-1][1]
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, PurePath):
            return str(obj)
        if isinstance(obj, (list, tuple)):
            return [self.convert(v, [*path, Index(i)]) for i, v in enumerate(obj)]
        if isinstance(obj, dict):
            bad = [k for k in obj if not isinstance(k, (str, int, float, bool))]
            if bad:
                where = path_text(path) or "the top"
                raise DumpError(f"at {where}: mapping key {bad[0]!r} cannot be written as YAML")
            return {k: self.convert(v, [*path, k]) for k, v in obj.items()}
        if id(obj) in self.seen:
            if not path:
                raise DumpError("the top-level object refers to itself")
            return self.link_to(self.seen[id(obj)], path)
        if isinstance(obj, ComponentBase):
            self.seen[id(obj)] = path
            tag, args, kwargs = tag_for(type(obj)), [], obj.get_config()
        elif isinstance(obj, Partial):
            self.seen[id(obj)] = path
            tag, args, kwargs = obj.tag or tag_for(obj.target), obj.args, obj.kwargs
        elif (built := provenance.recall(obj)) is not None:
            self.seen[id(obj)] = path
            tag, args, kwargs = built
        else:
            raise DumpError(
                f"at {path_text(path) or 'the top'}: {type(obj).__module__}.{type(obj).__qualname__} is neither a "
                "component, a plain value, nor an object built from a config, so it cannot be written as config"
            )
        if args and kwargs:
            raise DumpError(f"at {path_text(path) or 'the top'}: mixed positional and keyword arguments")
        if args:
            value: Any = [self.convert(v, [*path, Index(i)]) for i, v in enumerate(args)]
        else:
            value = {k: self.convert(v, [*path, k]) for k, v in kwargs.items()}
        self.tags.add(tag)
        if not isinstance(obj, Partial):  # after what it holds: a bundle saves enclosing objects first
            self.nodes.append((path_text(path), obj))
        return _Tagged(tag, value)


class Dumped(NamedTuple):
    """What :func:`dump_tree` found: the tree to emit, each tagged object by path, and the tags used."""

    tree: Any
    nodes: list[tuple[str, Any]]
    tags: set[str]
    artifacts: Sequence[tuple[Any, Any]] = ()  # (Artifact, its entry in the tree: .value names the file)


def dump_tree(obj: Any) -> Dumped:
    """Convert ``obj`` for :func:`emit_yaml`, recording every tagged object and tag (bundles save their state)."""
    converter = _Converter()
    tree = converter.convert(obj, [])
    return Dumped(tree, converter.nodes, converter.tags, converter.artifacts)


def dump_yaml(obj: Any, header: dict[str, str] | None = None) -> str:
    """``obj`` as torchon config YAML; ``header`` (extension name -> spec) becomes the first document."""
    return emit_yaml(dump_tree(obj).tree, header)


def emit_yaml(tree: Any, header: dict[str, str] | None = None) -> str:
    """The YAML text of a converted tree, with ``header`` as a first document when given."""
    return _emit([dict(header), tree] if header else [tree])


def emit_nodes(root: Any, header: Any = None) -> str:
    """The YAML text of a parsed config tree (:mod:`torchon.config.nodes`), tags and links as written; a node
    the tree holds twice (a YAML alias) is written once with an anchor. ``header`` is the parsed first document."""
    memo: dict[int, Any] = {}
    body = _emit(
        [_plain(root, memo)], flow=None
    )  # lists and mappings of plain values on one line, as configs do
    return body if header is None else _emit([_plain(header, memo)]) + "---\n" + body


def inline_yaml(value: Any) -> str:
    """A parsed config value as one line of YAML (flow style): how an override writes it (``!Adam {lr: 0.1}``)."""
    text = _emit([_plain(value, {})], flow=True, width=1 << 20).rstrip("\n")
    return text.removesuffix("\n...").strip()


def _plain(value: Any, memo: dict[int, Any]) -> Any:
    """``value`` (a parsed config tree) as what the representer writes: tags and links as their markers."""
    if id(value) in memo:
        return memo[id(value)]
    out: Any
    if isinstance(value, LinkNode):
        return _Tagged("@", value.text)
    if isinstance(value, TagNode):
        if value.form == "scalar":
            out = _Tagged(value.tag, value.args[0] if value.args else None)
        else:
            out = _Tagged(value.tag, _plain(value.kwargs if value.form == "mapping" else value.args, memo))
    elif isinstance(value, dict):
        out = {k: _plain(v, memo) for k, v in value.items()}
    elif isinstance(value, list):
        out = [_plain(v, memo) for v in value]
    else:
        return value
    memo[id(value)] = out
    return out


def _emit(documents: list[Any], flow: bool | None = False, width: int | None = None) -> str:
    yaml = YAML(typ="safe")
    yaml.Representer = _Representer
    yaml.default_flow_style = flow
    if width is not None:
        yaml.width = width
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    out = io.StringIO()
    yaml.dump_all(documents, out)
    return out.getvalue()
