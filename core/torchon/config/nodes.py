"""The parsed form of a config: plain values plus tagged nodes and links, each with its position.

Parsing yields this tree; resolving fills in what each tag names; validation checks it against signatures;
building turns it into objects. Keeping the tree separate from the objects is what lets every error point at a
line and lets a search expand variants before anything is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from torchon.config.errors import Mark

__all__ = ["CList", "CMap", "Index", "LinkNode", "TagNode", "children", "parse_link_path", "walk"]


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


def children(value: Any) -> Iterator[Any]:
    """The values directly inside a config value: a tag's arguments (positional, then keywords), a mapping's
    values, a list's items; nothing for a plain value or a link."""
    if isinstance(value, TagNode):
        yield from value.args
        yield from value.kwargs.values()
    elif isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, (list, tuple)):
        yield from value


def walk(value: Any) -> Iterator[Any]:
    """``value`` and every value inside it, depth first, a node before what it holds; each object once (a YAML
    alias or a shared node is not walked twice). The one tree walker configs, locks and bundles use."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(reversed(list(children(node))))
