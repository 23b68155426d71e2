"""The parsed form of a config: plain values, tagged nodes and links, each with its position. Keeping the tree
apart from the objects lets every error point at a line and a search expand variants before anything is built."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torchon.config.errors import Mark

__all__ = [
    "NODE_TYPES",
    "CList",
    "CMap",
    "Index",
    "LinkNode",
    "TagNode",
    "children",
    "contents",
    "parse_link_path",
    "path_text",
    "walk",
]


class CMap(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers where each key and value is."""

    __slots__ = ("key_marks", "mark", "value_marks")

    def __init__(self, mark: Mark) -> None:
        super().__init__()
        self.mark = mark
        self.key_marks: dict[Any, Mark] = {}
        self.value_marks: dict[Any, Mark] = {}


class CList(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers where each item is."""

    __slots__ = ("mark", "marks")

    def __init__(self, mark: Mark) -> None:
        super().__init__()
        self.mark = mark
        self.marks: list[Mark] = []


class TagNode:
    """A value written with a local tag: ``!Name``, ``!ext.Name``, ``!Name.factory``, ``!grid [...]``. ``args`` and
    ``kwargs`` hold the arguments as written (a non-empty scalar is one positional argument); resolving sets
    ``kind`` (``"component"`` or ``"value"``), ``target`` (what to call) and ``label`` (how messages name it)."""

    __slots__ = ("args", "form", "kind", "kwargs", "label", "mark", "partial", "path", "raw", "tag", "target")

    def __init__(self, tag: str, raw: Any, form: str, mark: Mark) -> None:
        self.tag = tag
        self.raw = raw
        self.form = form  # "mapping", "sequence" or "scalar"
        self.mark = mark
        self.args: CList | list[Any] = raw if form == "sequence" else []
        self.kwargs: CMap | dict[str, Any] = raw if form == "mapping" else {}
        if form == "scalar" and raw not in ("", None):
            self.args = [raw]
        self.kind = "unresolved"
        self.target: Any = None
        self.label = "!" + tag
        self.partial = False
        self.path = ""

    def arg_mark(self, key: str | int) -> Mark:
        """Where argument ``key`` (a keyword or a position) is written, falling back to the tag itself."""
        if isinstance(key, str) and isinstance(self.kwargs, CMap):
            return self.kwargs.value_marks.get(key, self.mark)
        if isinstance(key, int) and isinstance(self.args, CList) and key < len(self.args.marks):
            return self.args.marks[key]
        return self.mark

    def key_mark(self, key: str) -> Mark:
        return self.kwargs.key_marks.get(key, self.mark) if isinstance(self.kwargs, CMap) else self.mark

    def __repr__(self) -> str:
        return f"TagNode({self.label} at {self.mark})"


@dataclass(frozen=True, slots=True)
class Index:
    """A bracketed part of a link path, ``[key]``: always an item lookup, never an attribute."""

    key: str | int

    @staticmethod
    def parse(text: str) -> Index:
        """``[0]`` is a position, ``[key]`` or ``['key']`` a key."""
        key = text.strip("'\"")
        return Index(int(key) if re.fullmatch(r"-?\d+", key) else key)

    def __repr__(self) -> str:
        return f"[{self.key!r}]"

    def __str__(self) -> str:
        return f"[{self.key}]"


def path_text(parts: Iterable[Any]) -> str:
    """A config path as written: keys joined by dots, :class:`Index` parts in brackets (``train.model[0]``)."""
    out = ""
    for p in parts:
        out += str(p) if isinstance(p, Index) else (f".{p}" if out else str(p))
    return out


_NAME = r"[A-Za-z_][\w-]*"
_LINK_PART = re.compile(rf"\s*(?:\.?\s*({_NAME})|\[\s*([^\]]+?)\s*\])")
# a name (a dot before it is allowed), then names after dots and [indexes], spaces between them
_LINK_PATH = re.compile(rf"\.?\s*{_NAME}(?:\s*\.\s*{_NAME}|\s*\[\s*[^\]]+?\s*\])*")


def parse_link_path(text: str) -> list[str | Index] | None:
    """``a.b[0][key].c`` -> ``["a", "b", Index(0), Index("key"), "c"]``; None when malformed."""
    text = text.strip()
    if not _LINK_PATH.fullmatch(text):
        return None
    return [name or Index.parse(index) for name, index in _LINK_PART.findall(text)]


@dataclass(slots=True, eq=False)
class LinkNode:
    """``!@ a.b[c]``: a reference to another object of the config, resolved at parse time."""

    text: str
    parts: list[str | Index]
    mark: Mark
    path: str = ""
    anchor: Any = None  # the value the first resolvable parts lead to
    rest: list[str | Index] = field(default_factory=list)  # parts applied to the built anchor (attributes...)

    def __repr__(self) -> str:
        return f"LinkNode(!@ {self.text} at {self.mark})"


# The shapes of a config tree are known here only: walkers descend with contents(), children() or walk(), into
# NODE_TYPES only (any other value is a plain one, a leaf: not descending into those keeps walks fast).
NODE_TYPES = (TagNode, LinkNode, dict, list, tuple)
_EMPTY: Mapping[Any, Any] = MappingProxyType({})


def contents(value: Any) -> tuple[Sequence[Any], Mapping[Any, Any]]:
    """``(positional, named)``: the values directly inside a config value, split as a call's arguments are (a
    plain value or a link holds nothing). Walkers that need a value's config path (``a.b``, ``a[0]``) use this."""
    if isinstance(value, TagNode):
        return value.args, value.kwargs
    if isinstance(value, dict):
        return (), value
    if isinstance(value, (list, tuple)):
        return value, _EMPTY
    return (), _EMPTY


def children(value: Any) -> list[Any]:
    """The values directly inside a config value, positional then named."""
    positional, named = contents(value)
    return [*positional, *named.values()]


def walk(value: Any) -> Iterator[Any]:
    """``value`` and every node inside it (not the plain values they hold), depth first, a node before what it
    holds, each once (a YAML alias is not walked twice): the one walker configs, locks, bundles and plugins use."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        inner = children(node)
        if inner:
            stack.extend([child for child in reversed(inner) if isinstance(child, NODE_TYPES)])
