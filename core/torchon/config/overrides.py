"""Command-line overrides of a config: ``path=value`` replaces, ``+path=value`` adds, ``~path`` removes.

Paths address the config's tree as it is written: mapping keys and a tag's keyword arguments by name
(``train.optimizer.lr``), sequence items and a tag's positional arguments by ``[i]`` (``train.model[0]``). A value is
YAML, parsed as the file's values are, so tags (``!choice [a, b]``), links (``!@ train.model``) and numbers work as
in the file. Overrides are applied to the parsed tree before anything is resolved or checked, so an override that
makes the config invalid gets the error the file would get, and every error points at the override:
``<command line>:N:COL`` is column COL of the N-th override.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torchon.config.errors import ConfigError, Mark, did_you_mean
from torchon.config.nodes import CList, CMap, Index, LinkNode, TagNode, contents

__all__ = ["COMMAND_LINE", "Override", "apply_overrides", "parse_overrides", "source_text"]

COMMAND_LINE = "<command line>"

_FORMS = "PATH=VALUE (replace), +PATH=VALUE (add) or ~PATH (remove)"
_NAME = re.compile(r"[A-Za-z_][\w-]*")
_INDEX = re.compile(r"\[\s*([^\]]*?)\s*\]")


@dataclass(frozen=True)
class Override:
    """One override as given, parsed. ``line`` is its position among the overrides (1-based): the line number
    errors name in ``<command line>``."""

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
        exc = ConfigError(what, self.mark(part), fix=fix)
        exc.source_line = self.text
        return exc


def path_text(parts: Iterable[str | Index]) -> str:
    out = ""
    for p in parts:
        out += str(p) if isinstance(p, Index) else (f".{p}" if out else p)
    return out


def source_text(overrides: Sequence[str]) -> str:
    """The overrides as the lines of the ``<command line>`` source errors show."""
    return "\n".join(overrides)


def parse_overrides(texts: Sequence[str]) -> list[Override]:
    """Parse each ``texts`` item; :class:`ConfigError` at ``<command line>:N:COL`` for a malformed one."""
    return [_parse_one(text, n) for n, text in enumerate(texts, start=1)]


def _parse_one(text: str, line: int) -> Override:
    def bad(what: str, col: int, fix: str = f"write an override as {_FORMS}") -> ConfigError:
        exc = ConfigError(what, Mark(COMMAND_LINE, line, col), fix=fix)
        exc.source_line = text
        return exc

    if text.startswith("~"):
        op, start = "remove", 1
        if "=" in text:
            raise bad(
                "a removal (~PATH) takes no value", text.index("=") + 1, "write ~PATH alone, or PATH=VALUE"
            )
        end = len(text)
    else:
        op, start = ("add", 1) if text.startswith("+") else ("set", 0)
        if "=" not in text:
            raise bad(f"{text!r} is not an override: it has no '='", 1)
        end = text.index("=")
    path, cols = _parse_path(text, start, end, bad)
    value = text[end + 1 :] if op != "remove" else None
    return Override(op, tuple(path), tuple(cols), value, text, line)


def _parse_path(text: str, start: int, end: int, bad: Any) -> tuple[list[str | Index], list[int]]:
    parts: list[str | Index] = []
    cols: list[int] = []
    pos = start
    if pos == end:
        raise bad("the override names no key", pos + 1)
    while pos < end:
        if parts and text[pos] == ".":
            pos += 1
            m = _NAME.match(text, pos, end)
            if m is None:
                raise bad(
                    f"expected a key name after '.' in {text[start:end]!r}",
                    pos + 1,
                    "write keys as names (letters, digits, _ and -), items as [i], keys with other characters "
                    "as [key]",
                )
            parts.append(m.group())
        elif text[pos] == "[":
            m = _INDEX.match(text, pos, end)
            if m is None or not parts:
                raise bad(
                    f"malformed index in {text[start:end]!r}",
                    pos + 1,
                    "write an item as [i] after a key: train.model[0]",
                )
            key = m.group(1).strip("'\"")
            parts.append(Index(int(key) if re.fullmatch(r"-?\d+", key) else key))
        elif not parts:
            m = _NAME.match(text, pos, end)
            if m is None:
                raise bad(
                    f"{text[start:end]!r} is not a key path",
                    pos + 1,
                    f"write an override as {_FORMS}, where PATH is keys separated by dots, items as [i]",
                )
            parts.append(m.group())
        else:
            raise bad(
                f"unexpected {text[pos]!r} in the path {text[start:end]!r}",
                pos + 1,
                "separate keys with dots and write items as [i]: train.model[0].out_features",
            )
        cols.append(pos + 1)
        pos = m.end()
    return parts, cols


# -- applying -------------------------------------------------------------------------------------------------


Aliases = Mapping[Mark, Sequence[tuple[Any, Any]]]


def apply_overrides(root: TagNode, overrides: Sequence[Override], aliases: Aliases | None = None) -> None:
    """Apply ``overrides`` to the parsed tree ``root`` in place, in order; a :class:`ConfigError` on the first
    that cannot be applied. ``aliases`` (from :func:`~torchon.config.yaml_loader.parse_documents`) maps where an
    anchored value is written to the places its aliases repeat it: replacing the anchor's value replaces it there
    too, as editing the file would; replacing an alias changes only that place."""
    values = _parse_values(overrides)
    for override in overrides:
        value = values.get(override.line)
        parent = _parent(root, override)
        last = len(override.path) - 1
        slot = _Slot(parent, override.path[last], override, last)
        if override.op == "set":
            slot.replace(value, aliases or {})
        elif override.op == "add":
            slot.add(value)
        else:
            slot.remove()


def _parse_values(overrides: Sequence[Override]) -> dict[int, Any]:
    """The values of ``overrides`` (by line), parsed as YAML in one stream, one document each: parsing them one by
    one would cost a parser each."""
    given = [o for o in overrides if o.value is not None]
    if not given:
        return {}
    if any(_stands_alone(o.value or "") for o in given):
        return {o.line: (_parse_stream([o]) or [None])[0] for o in given}
    docs = _parse_stream(given)
    if len(docs) != len(given):  # a value that holds a document marker: find which
        return {o.line: (_parse_stream([o]) or [None])[0] for o in given}
    return {o.line: doc for o, doc in zip(given, docs)}


def _stands_alone(value: str) -> bool:
    """Whether a value cannot share a YAML stream with others (it spans lines or holds a document marker)."""
    return "\n" in value or value.lstrip().startswith(("---", "..."))


def _parse_stream(given: Sequence[Override]) -> list[Any]:
    from torchon.config.yaml_loader import parse_documents

    text = "".join(f"---\n{o.value}\n" for o in given)  # value k on line 2k+1 (0-based), after its marker

    def position(line: int, col: int) -> Mark:
        if line % 2:
            o = given[line // 2]
            return Mark(COMMAND_LINE, o.line, o.value_col + col)
        o = given[
            max(0, min(line // 2 - 1, len(given) - 1))
        ]  # the next marker, or the end: this value ended early
        return Mark(COMMAND_LINE, o.line, len(o.text))

    try:
        docs = parse_documents(text, COMMAND_LINE, position=position)
    except ConfigError as exc:
        culprit = next((o for o in given if exc.mark is not None and exc.mark.line == o.line), given[0])
        if exc.what.startswith("invalid YAML"):
            exc.fix = (
                "check the value's YAML (brackets and quotes must close); the shell removes one level of quotes, "
                "so wrap the whole override in single quotes: 'a.b=[1, 2]'"
            )
        exc.source_line = culprit.text
        raise
    if len(given) == 1 and len(docs) > 1:
        raise given[0].error(
            f"the value of {given[0].dotted()} holds {len(docs)} YAML documents",
            None,
            fix="give one value; quote it if it contains '---'",
        )
    return docs


def _describe(value: Any) -> str:
    if isinstance(value, TagNode):
        return f"an object ({value.label})"
    if isinstance(value, LinkNode):
        return f"a link (!@ {value.text})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a value ({value!r})"


def _parent(root: TagNode, override: Override) -> Any:
    node: Any = root
    for i, part in enumerate(override.path[:-1]):
        node = _Slot(node, part, override, i).get()
    return node


class _Slot:
    """Place ``key`` of ``container`` (a tag's arguments, a mapping, a list), addressed by part ``i`` of
    ``override``'s path."""

    def __init__(self, container: Any, key: str | Index, override: Override, i: int) -> None:
        self.override = override
        self.i = i
        self.where = override.dotted(i) or "the config's top object"
        if isinstance(container, LinkNode):
            raise override.error(
                f"{self.where} is a link (!@ {container.text}); a path cannot go through it",
                i,
                fix=f"override the object it points to ({container.text}...), or replace the link itself: "
                f"{self.where}=VALUE",
            )
        self.tag = container if isinstance(container, TagNode) else None
        if self.tag is not None:
            self.items = self._tag_items(self.tag, key)
        elif isinstance(container, (dict, list)):
            self.items = container
        else:
            raise override.error(
                f"{self.where} is {_describe(container)}, which has no keys or items",
                i,
                fix=f"override {self.where} itself: {self.where}=VALUE",
            )
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
            what, fix = "keyword arguments (a mapping)", f"address them by name, {self.where}.NAME"
        else:
            what, fix = "positional arguments", f"address them by position, {self.where}[i]"
        choices = self._choices(tag.kwargs if tag.form == "mapping" else tag.args)
        raise self.override.error(
            f"{self.where} ({tag.label}) is written with {what}",
            self.i,
            fix=f"{fix}: {choices}",
        )

    def _key(self, key: str | Index) -> Any:
        raw = key.key if isinstance(key, Index) else key
        if isinstance(self.items, list):
            if not isinstance(raw, int):
                raise self.override.error(
                    f"{self.where} is a list; address its items by position",
                    self.i,
                    fix=f"write {self.where}[i] with i from 0 to {len(self.items) - 1}"
                    if self.items
                    else f"the list is empty: add an item with +{self.where}[0]=VALUE",
                )
            return raw + len(self.items) if raw < 0 else raw
        if raw not in self.items and isinstance(raw, str) and raw.lstrip("-").isdigit():
            return int(raw) if int(raw) in self.items else raw
        return raw

    def _choices(self, items: Any) -> str:
        if isinstance(items, dict):
            return ", ".join(map(str, items)) or "(none)"
        return f"{len(items)} item(s)" + (f", [0] to [{len(items) - 1}]" if items else "")

    def _missing(self) -> ConfigError:
        path = self.override.dotted(self.i + 1)
        if isinstance(self.items, list):
            return self.override.error(
                f"{path}: no such item ({self.where} has {len(self.items)})",
                self.i,
                fix=f"use an index from 0 to {len(self.items) - 1}, or append with +{self.where}[{len(self.items)}]"
                "=VALUE"
                if self.items
                else f"the list is empty: add an item with +{self.where}[0]=VALUE",
            )
        keys = [str(k) for k in self.items]
        hint = did_you_mean(str(self.key), keys)
        return self.override.error(
            f"{path}: no such key{hint}",
            self.i,
            fix=f"keys of {self.where}: {', '.join(keys) or '(none)'}; to add a key the config does not have, "
            f"write +{path}=VALUE",
        )

    def _has(self) -> bool:
        if isinstance(self.items, list):
            return 0 <= self.key < len(self.items)
        return self.key in self.items

    def get(self) -> Any:
        if not self._has():
            raise self._missing()
        return self.items[self.key]

    def replace(self, value: Any, aliases: Aliases) -> None:
        if not self._has():
            raise self._missing()
        anchor = self._mark_here()
        places = aliases.get(anchor, []) if anchor is not None else []
        if any(items is self.items and key == self.key for items, key in places):
            places = []  # this is an alias itself (its mark is its anchor's): only this place changes
        self._put(value)
        mark = self._value_mark(value)
        for items, key in places:
            marks = items.value_marks if isinstance(items, CMap) else items.marks
            if marks[key] == anchor:  # an alias (not replaced by an override of its own)
                items[key], marks[key] = value, mark

    def add(self, value: Any) -> None:
        path = self.override.dotted()
        if isinstance(self.items, list):
            if not 0 <= self.key <= len(self.items):
                raise self._missing()
            self.items.insert(self.key, value)
            if isinstance(self.items, CList):
                self.items.marks.insert(self.key, self._value_mark(value))
            self._sync_scalar_tag()
            return
        if self._has():
            raise self.override.error(
                f"{path} is already in the config; + adds only keys it does not have",
                None,
                fix=f"replace it with {path}=VALUE (no +)",
            )
        if isinstance(self.items, CMap):
            self.items.key_marks[self.key] = self.override.mark(self.i)
        self._put(value)

    def remove(self) -> None:
        if not self._has():
            raise self._missing()
        if isinstance(self.items, list):
            del self.items[self.key]
            if isinstance(self.items, CList):
                del self.items.marks[self.key]
            self._sync_scalar_tag()
            return
        del self.items[self.key]
        if isinstance(self.items, CMap):
            # An argument removed: an error about its absence (a required argument) points here.
            self.items.key_marks.pop(self.key, None)
            self.items.value_marks[self.key] = self.override.mark()

    def _mark_here(self) -> Mark | None:
        if isinstance(self.items, CMap):
            return self.items.value_marks.get(self.key)
        if isinstance(self.items, CList) and self.key < len(self.items.marks):
            return self.items.marks[self.key]
        return None

    def _put(self, value: Any) -> None:
        self.items[self.key] = value
        if isinstance(self.items, CMap):
            self.items.value_marks[self.key] = self._value_mark(value)
        elif isinstance(self.items, CList):
            self.items.marks[self.key] = self._value_mark(value)
        self._sync_scalar_tag()

    def _sync_scalar_tag(self) -> None:
        if self.tag is not None and self.tag.form == "scalar":  # `!Name 3`: raw is its one argument
            self.tag.raw = self.tag.args[0] if self.tag.args else ""

    def _value_mark(self, value: Any) -> Mark:
        mark = getattr(value, "mark", None)
        return (
            mark
            if isinstance(mark, Mark)
            else Mark(COMMAND_LINE, self.override.line, self.override.value_col)
        )


# -- the other way: overrides from two trees ------------------------------------------------------------------


def difference(before: Any, after: Any) -> list[str]:
    """Overrides that turn the config tree ``before`` into ``after`` (both parsed, below their top objects), as
    ``torchon compare`` shows two runs: ``apply_overrides(before, parse_overrides(difference(before, after)))``
    gives a tree equal to ``after``."""
    from torchon.config.dump import inline_yaml

    out: list[str] = []

    def same_shape(a: Any, b: Any) -> bool:
        if isinstance(a, TagNode) or isinstance(b, TagNode):
            return isinstance(a, TagNode) and isinstance(b, TagNode) and (a.tag, a.form) == (b.tag, b.form)
        return (isinstance(a, dict) and isinstance(b, dict)) or (isinstance(a, list) and isinstance(b, list))

    def compare(a: Any, b: Any, path: tuple[str | Index, ...]) -> None:
        if path and (not same_shape(a, b) or (isinstance(a, TagNode) and a.form == "scalar")):
            text = inline_yaml(b)
            if inline_yaml(a) != text:
                out.append(f"{path_text(path)}={text}")
            return
        (pa, na), (pb, nb) = contents(a), contents(b)
        for i in range(min(len(pa), len(pb))):
            compare(pa[i], pb[i], (*path, Index(i)))
        for i in range(len(pa) - 1, len(pb) - 1, -1):  # removals from the end: earlier indexes stay put
            out.append("~" + path_text((*path, Index(i))))
        for i in range(len(pa), len(pb)):
            out.append(f"+{path_text((*path, Index(i)))}={inline_yaml(pb[i])}")
        for key in na:
            if key in nb:
                compare(na[key], nb[key], (*path, _key(key)))
            else:
                out.append("~" + path_text((*path, _key(key))))
        for key in nb:
            if key not in na:
                out.append(f"+{path_text((*path, _key(key)))}={inline_yaml(nb[key])}")

    compare(before, after, ())
    return out


def _key(key: Any) -> str | Index:
    return key if isinstance(key, str) and _NAME.fullmatch(key) else Index(key)
