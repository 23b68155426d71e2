"""Command-line overrides of a config: ``path=value`` replaces, ``+path=value`` adds, ``~path`` removes.

Paths address the tree as written: keys and keyword arguments by name (``train.optimizer.lr``), items and
positional arguments by ``[i]`` (``train.model[0]``); values are YAML, as in the file. Overrides change the parsed
tree before anything is checked, so a bad one gets the error the file would get, pointing at the override:
``<command line>:N:COL`` is column COL of the N-th override.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torchon.api import (
    COMMAND_LINE,
    CList,
    CMap,
    ConfigError,
    Index,
    LinkNode,
    Mark,
    TagNode,
    did_you_mean,
    path_text,
)

__all__ = ["COMMAND_LINE", "Override", "apply_overrides", "parse_overrides"]

_FORMS = "PATH=VALUE (replace), +PATH=VALUE (add) or ~PATH (remove)"
_NAME = re.compile(r"[A-Za-z_][\w-]*")
_INDEX = re.compile(r"\[\s*([^\]]*?)\s*\]")


def _error(what: str, mark: Mark, text: str, fix: str) -> ConfigError:
    """An error in an override: the line errors show is the override itself."""
    exc = ConfigError(what, mark, fix=fix)
    exc.source_line = text
    return exc


@dataclass(frozen=True)
class Override:
    """One override as given, parsed; ``line`` is its place among the overrides (1-based), the line errors name."""

    op: str  # "set", "add" or "remove"
    path: tuple[str | Index, ...]
    cols: tuple[int, ...]  # where each part of the path starts in ``text`` (1-based)
    value: str | None  # the YAML after "=", None for a removal
    text: str
    line: int

    @property
    def value_col(self) -> int:
        return self.text.index("=") + 2 if self.value is not None else 1

    def mark(self, part: int | None = None) -> Mark:
        """Where part ``part`` of the path is written (the whole override when None)."""
        return Mark(COMMAND_LINE, self.line, 1 if part is None else self.cols[part])

    def dotted(self, upto: int | None = None) -> str:
        """The path (its first ``upto`` parts) as written: ``train.model[0]``."""
        return path_text(self.path[: len(self.path) if upto is None else upto])

    def error(self, what: str, part: int | None, *, fix: str) -> ConfigError:
        return _error(what, self.mark(part), self.text, fix)


def parse_overrides(texts: Sequence[str]) -> list[Override]:
    """Parse each ``texts`` item; :class:`ConfigError` at ``<command line>:N:COL`` for a malformed one."""
    return [_parse_one(text, n) for n, text in enumerate(texts, start=1)]


def _parse_one(text: str, line: int) -> Override:
    def bad(what: str, col: int, fix: str = f"write an override as {_FORMS}") -> ConfigError:
        return _error(what, Mark(COMMAND_LINE, line, col), text, fix)

    if text.startswith("~"):
        if "=" in text:
            fix = "write ~PATH alone, or PATH=VALUE"
            raise bad("a removal (~PATH) takes no value", text.index("=") + 1, fix)
        op, start, end = "remove", 1, len(text)
    else:
        if "=" not in text:
            raise bad(f"{text!r} is not an override: it has no '='", 1)
        op, start = ("add", 1) if text.startswith("+") else ("set", 0)
        end = text.index("=")
    parts: list[str | Index] = []
    cols: list[int] = []  # where each part starts (1-based)
    pos, path = start, text[start:end]
    if pos == end:
        raise bad("the override names no key", pos + 1)
    while pos < end:
        if parts and text[pos] == ".":
            pos += 1
            m = _NAME.match(text, pos, end)
            if m is None:
                fix = (
                    "write keys as names (letters, digits, _ and -), items as [i], keys with other characters "
                    "as [key]"
                )
                raise bad(f"expected a key name after '.' in {path!r}", pos + 1, fix)
            parts.append(m.group())
        elif text[pos] == "[":
            m = _INDEX.match(text, pos, end)
            if m is None or not parts:
                fix = "write an item as [i] after a key: train.model[0]"
                raise bad(f"malformed index in {path!r}", pos + 1, fix)
            parts.append(Index.parse(m.group(1)))
        elif not parts:
            m = _NAME.match(text, pos, end)
            if m is None:
                fix = f"write an override as {_FORMS}, where PATH is keys separated by dots, items as [i]"
                raise bad(f"{path!r} is not a key path", pos + 1, fix)
            parts.append(m.group())
        else:
            fix = "separate keys with dots and write items as [i]: train.model[0].out_features"
            raise bad(f"unexpected {text[pos]!r} in the path {path!r}", pos + 1, fix)
        cols.append(pos + 1)
        pos = m.end()
    return Override(op, tuple(parts), tuple(cols), text[end + 1 :] if op != "remove" else None, text, line)


Aliases = Mapping[Mark, Sequence[tuple[Any, Any]]]


def apply_overrides(root: TagNode, overrides: Sequence[Override], aliases: Aliases | None = None) -> None:
    """Apply ``overrides`` to the parsed tree ``root`` in place, in order. ``aliases`` (from
    :func:`torchon.api.parse_documents`) maps where an anchored value is written to the places its
    aliases repeat it: replacing the anchor's value replaces it there too, as editing the file would; replacing an
    alias changes only that place."""
    values = _parse_values(overrides)
    for override in overrides:
        node: Any = root
        for i, part in enumerate(override.path[:-1]):
            node = _Slot(node, part, override, i).get()
        slot = _Slot(node, override.path[-1], override, len(override.path) - 1)
        if override.op == "set":
            slot.replace(values.get(override.line), aliases or {})
        elif override.op == "add":
            slot.add(values.get(override.line))
        else:
            slot.remove()


def _parse_values(overrides: Sequence[Override]) -> dict[int, Any]:
    """The values of ``overrides`` (by line), parsed as YAML in one stream, one document each: parsing them one by
    one would cost a parser each. A value that spans lines or holds a document marker is parsed alone."""
    given = [o for o in overrides if o.value is not None]
    alone = any("\n" in (o.value or "") or (o.value or "").lstrip().startswith(("---", "...")) for o in given)
    docs = _parse_stream(given) if given and not alone else []
    if len(docs) != len(given):  # alone, or a value held a document marker after all
        return {o.line: (_parse_stream([o]) or [None])[0] for o in given}
    return {o.line: doc for o, doc in zip(given, docs)}


def _parse_stream(given: Sequence[Override]) -> list[Any]:
    from torchon.api import parse_documents

    text = "".join(f"---\n{o.value}\n" for o in given)  # value k on line 2k+1 (0-based), after its marker

    def position(line: int, col: int) -> Mark:
        if line % 2:
            return Mark(COMMAND_LINE, given[line // 2].line, given[line // 2].value_col + col)
        # the next marker, or the end: the value ended early
        o = given[max(0, min(line // 2 - 1, len(given) - 1))]
        return Mark(COMMAND_LINE, o.line, len(o.text))

    try:
        docs = parse_documents(text, COMMAND_LINE, position=position)
    except ConfigError as exc:
        if exc.what.startswith("invalid YAML"):
            exc.fix = (
                "check the value's YAML (brackets and quotes must close); the shell removes one level of quotes, "
                "so wrap the whole override in single quotes: 'a.b=[1, 2]'"
            )
        line = exc.mark.line if exc.mark is not None else None
        exc.source_line = next((o for o in given if o.line == line), given[0]).text
        raise
    if len(given) == 1 and len(docs) > 1:
        what = f"the value of {given[0].dotted()} holds {len(docs)} YAML documents"
        raise given[0].error(what, None, fix="give one value; quote it if it contains '---'")
    return docs


def _describe(value: Any) -> str:
    if isinstance(value, TagNode):
        return f"an object ({value.label})"
    if isinstance(value, LinkNode):
        return f"a link (!@ {value.text})"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return f"a value ({value!r})"


def _marks_of(items: Any) -> Any:
    """Where each value of a parsed mapping or list is written (None for one an override gave)."""
    return items.value_marks if isinstance(items, CMap) else items.marks if isinstance(items, CList) else None


class _Slot:
    """Place ``key`` of ``container`` (a tag's arguments, a mapping, a list): part ``i`` of ``override``'s path."""

    def __init__(self, container: Any, key: str | Index, override: Override, i: int) -> None:
        self.override = override
        self.i = i
        self.where = where = override.dotted(i) or "the config's top object"
        if isinstance(container, LinkNode):
            what = f"{where} is a link (!@ {container.text}); a path cannot go through it"
            fix = f"override the object it points to ({container.text}...), or replace the link itself: {where}=VALUE"
            raise override.error(what, i, fix=fix)
        self.tag = container if isinstance(container, TagNode) else None
        if self.tag is not None:
            self.items = self._tag_items(self.tag, key)
        elif isinstance(container, (dict, list)):
            self.items = container
        else:
            what = f"{where} is {_describe(container)}, which has no keys or items"
            raise override.error(what, i, fix=f"override {where} itself: {where}=VALUE")
        self.key = self._key(key)

    def _tag_items(self, tag: TagNode, key: str | Index) -> Any:
        positional = isinstance(key, Index) and isinstance(key.key, int)
        if positional and tag.form != "mapping":
            return tag.args
        if not positional and tag.form == "mapping":
            return tag.kwargs
        if not positional and not tag.args and self.override.op == "add":
            tag.kwargs = CMap(tag.mark)  # `!Name` with no arguments gains its first keyword argument
            tag.raw, tag.form = tag.kwargs, "mapping"
            return tag.kwargs
        if tag.form == "mapping":
            what = "keyword arguments (a mapping)"
            fix = f"address them by name, {self.where}.NAME: {', '.join(map(str, tag.kwargs)) or '(none)'}"
        else:
            n = len(tag.args)
            what = "positional arguments"
            span = f", [0] to [{n - 1}]" if n else ""
            fix = f"address them by position, {self.where}[i]: {n} item(s){span}"
        raise self.override.error(f"{self.where} ({tag.label}) is written with {what}", self.i, fix=fix)

    def _list_fix(self, fix: str) -> str:
        return fix if self.items else f"the list is empty: add an item with +{self.where}[0]=VALUE"

    def _key(self, key: str | Index) -> Any:
        raw = key.key if isinstance(key, Index) else key
        if isinstance(self.items, list):
            if not isinstance(raw, int):
                fix = self._list_fix(f"write {self.where}[i] with i from 0 to {len(self.items) - 1}")
                what = f"{self.where} is a list; address its items by position"
                raise self.override.error(what, self.i, fix=fix)
            return raw + len(self.items) if raw < 0 else raw
        if raw not in self.items and isinstance(raw, str) and raw.lstrip("-").isdigit():
            return int(raw) if int(raw) in self.items else raw
        return raw

    def _missing(self) -> ConfigError:
        path, n = self.override.dotted(self.i + 1), len(self.items)
        if isinstance(self.items, list):
            fix = self._list_fix(f"use an index from 0 to {n - 1}, or append with +{self.where}[{n}]=VALUE")
            return self.override.error(f"{path}: no such item ({self.where} has {n})", self.i, fix=fix)
        keys = [str(k) for k in self.items]
        fix = f"keys of {self.where}: {', '.join(keys) or '(none)'}; to add a key the config does not have, "
        what = f"{path}: no such key{did_you_mean(str(self.key), keys)}"
        return self.override.error(what, self.i, fix=f"{fix}write +{path}=VALUE")

    def _has(self) -> bool:
        return 0 <= self.key < len(self.items) if isinstance(self.items, list) else self.key in self.items

    def get(self) -> Any:
        if not self._has():
            raise self._missing()
        return self.items[self.key]

    def replace(self, value: Any, aliases: Aliases) -> None:
        self.get()  # it must be there
        marks = _marks_of(self.items)
        if isinstance(marks, dict):
            anchor = marks.get(self.key)
        else:
            anchor = marks[self.key] if marks is not None and self.key < len(marks) else None
        places = aliases.get(anchor, []) if anchor is not None else []
        if any(items is self.items and key == self.key for items, key in places):
            places = []  # this is an alias itself (its mark is its anchor's): only this place changes
        mark = self._put(value)
        for items, key in places:
            marks = _marks_of(items)
            if marks[key] == anchor:  # an alias (not replaced by an override of its own)
                items[key], marks[key] = value, mark

    def add(self, value: Any) -> None:
        if isinstance(self.items, list):
            if not 0 <= self.key <= len(self.items):
                raise self._missing()
            self.items.insert(self.key, value)  # a place for it (and its mark), filled by _put
            if isinstance(self.items, CList):
                self.items.marks.insert(self.key, self.override.mark())
        elif self._has():
            path = self.override.dotted()
            what = f"{path} is already in the config; + adds only keys it does not have"
            raise self.override.error(what, None, fix=f"replace it with {path}=VALUE (no +)")
        elif isinstance(self.items, CMap):
            self.items.key_marks[self.key] = self.override.mark(self.i)
        self._put(value)

    def remove(self) -> None:
        self.get()  # it must be there
        del self.items[self.key]
        if isinstance(self.items, CList):
            del self.items.marks[self.key]
        elif isinstance(self.items, CMap):
            # An argument removed: an error about its absence (a required argument) points here.
            self.items.key_marks.pop(self.key, None)
            self.items.value_marks[self.key] = self.override.mark()
        self._sync_scalar_tag()

    def _put(self, value: Any) -> Mark:
        """Put ``value`` here; returns the mark it is given (its own, or the override's value)."""
        mark = getattr(value, "mark", None)
        if not isinstance(mark, Mark):
            mark = Mark(COMMAND_LINE, self.override.line, self.override.value_col)
        self.items[self.key] = value
        marks = _marks_of(self.items)
        if marks is not None:
            marks[self.key] = mark
        self._sync_scalar_tag()
        return mark

    def _sync_scalar_tag(self) -> None:
        if self.tag is not None and self.tag.form == "scalar":  # `!Name 3`: raw is its one argument
            self.tag.raw = self.tag.args[0] if self.tag.args else ""
