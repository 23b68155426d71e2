"""The parsed form of a config: plain values plus tagged nodes and links, each with its position.

Parsing yields this tree; resolving fills in what each tag names; validation checks it against signatures;
building turns it into objects. Keeping the tree separate from the objects is what lets every error point at a
line and lets a search expand variants before anything is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
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
    """A value written with a local tag: ``!Name``, ``!ext.Name``, ``!Name.factory``, ``!grid [...]``.

    ``args`` and ``kwargs`` hold the arguments as written (a mapping gives keyword arguments, a sequence
    positional ones, a non-empty scalar one positional argument). Resolution sets ``kind`` (``"component"`` or
    ``"value"``), ``target`` (what to call) and ``label`` (how messages name it).
    """

    __slots__ = (
        "args",
        "form",
        "kind",
        "kwargs",
        "label",
        "mark",
        "partial",
        "path",
        "raw",
        "tag",
        "target",
    )

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
        if isinstance(self.kwargs, CMap):
            return self.kwargs.key_marks.get(key, self.mark)
        return self.mark

    def __repr__(self) -> str:
        return f"TagNode({self.label} at {self.mark})"


class Index:
    """A bracketed part of a link path, ``[key]``: always an item lookup, never an attribute."""

    __slots__ = ("key",)

    def __init__(self, key: str | int) -> None:
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Index) and other.key == self.key

    def __hash__(self) -> int:
        return hash(("Index", self.key))

    def __repr__(self) -> str:
        return f"[{self.key!r}]"

    def __str__(self) -> str:
        return f"[{self.key}]"


_LINK_PART = re.compile(r"\s*(?:\.?\s*([A-Za-z_][\w-]*)|\[\s*([^\]]+?)\s*\])")


def parse_link_path(text: str) -> list[str | Index] | None:
    """``a.b[0][key].c`` -> ``["a", "b", Index(0), Index("key"), "c"]``; None when malformed."""
    text = text.strip()
    if not text:
        return None
    parts: list[str | Index] = []
    pos = 0
    first = True
    while pos < len(text):
        m = _LINK_PART.match(text, pos)
        if m is None or m.end() == pos:
            return None
        name, index = m.group(1), m.group(2)
        if name is not None:
            if not first and not text[pos : m.end()].lstrip().startswith("."):
                return None
            parts.append(name)
        else:
            if first:
                return None
            key = index.strip("'\"")
            parts.append(Index(int(key) if re.fullmatch(r"-?\d+", key) else key))
        pos = m.end()
        first = False
    return parts


class LinkNode:
    """``!@ a.b[c]``: a reference to another object of the config, resolved at parse time."""

    __slots__ = ("anchor", "mark", "parts", "path", "rest", "text")

    def __init__(self, text: str, parts: list[str | Index], mark: Mark) -> None:
        self.text = text
        self.parts = parts
        self.mark = mark
        self.path = ""
        self.anchor: Any = None  # the value the first resolvable parts lead to
        self.rest: list[str | Index] = []  # parts applied to the built anchor (attributes, indexes)

    def __repr__(self) -> str:
        return f"LinkNode(!@ {self.text} at {self.mark})"


# The shapes of a config tree are known here only: walkers descend with contents(), children() or walk(), into
# NODE_TYPES only (any other value is a plain one, a leaf: not descending into those keeps walks fast).
NODE_TYPES = (TagNode, LinkNode, dict, list, tuple)
_EMPTY: Mapping[Any, Any] = MappingProxyType({})


def contents(value: Any) -> tuple[Sequence[Any], Mapping[Any, Any]]:
    """``(positional, named)``: the values directly inside a config value, split as a call's arguments are. A tag
    holds its arguments, a list positional values, a mapping named ones (by key); a plain value or a link holds
    nothing. Walkers that need to know where a value is (its config path: ``a.b``, ``a[0]``) descend with this."""
    if isinstance(value, TagNode):
        return value.args, value.kwargs
    if isinstance(value, dict):
        return (), value
    if isinstance(value, (list, tuple)):
        return value, _EMPTY
    return (), _EMPTY


def children(value: Any) -> list[Any]:
    """The values directly inside a config value, positional then named (a list: :func:`walk` calls it for every
    node of a tree)."""
    positional, named = contents(value)
    return [*positional, *named.values()]


def walk(value: Any) -> Iterator[Any]:
    """``value`` and every node inside it (tags, links, mappings, lists: not the plain values they hold), depth
    first, a node before what it holds; each node once (a YAML alias or a shared node is not walked twice). The one
    tree walker configs, locks, bundles and plugins use."""
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
