"""Reading config YAML safely: ruamel.yaml's safe loader with a private constructor (so torchon's tags never leak
into other users of ruamel.yaml) that keeps positions and refuses ``!!python/...`` and unknown tags, and YAML 1.2's
resolver computed once (ruamel's looks the YAML version up for every scalar, which dominated large configs)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from torchon.config.errors import ConfigError, Mark
from torchon.config.nodes import CList, CMap, LinkNode, TagNode, parse_link_path

__all__ = ["parse_documents"]


class _Resolver(VersionedResolver):
    """YAML 1.2 implicit typing, with the regex table built once per process."""

    _table: dict[str, list[tuple[Tag, re.Pattern[str]]]] | None = None

    @classmethod
    def _implicit_table(cls, probe: _Resolver) -> dict[str, list[tuple[Tag, re.Pattern[str]]]]:
        if cls._table is None:
            probe.loadumper = None
            raw = VersionedResolver.versioned_resolver.fget(probe)  # type: ignore[attr-defined]
            tags: dict[str, Tag] = {}
            cls._table = {
                first: [
                    (tags.setdefault(tag, Tag(suffix=tag)), re.compile(regexp.pattern, regexp.flags))
                    for tag, regexp in entries
                ]
                for first, entries in raw.items()
            }
        return cls._table

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode:
            if implicit[0]:
                table = self._table or self._implicit_table(self)
                for tag, regexp in table.get(value[0] if value else "", ()):
                    if regexp.match(value):
                        return tag
            return self.DEFAULT_SCALAR_TAG
        if kind is SequenceNode:
            return self.DEFAULT_SEQUENCE_TAG
        return self.DEFAULT_MAPPING_TAG


class _Constructor(SafeConstructor):
    """Safe construction plus torchon's tags; private so registrations stay here."""

    filename = "<config>"
    # where an anchored value is written -> the (container, key) places of its aliases
    aliases: dict[Mark, list[tuple[Any, Any]]]

    def _mark(self, node: Any) -> Mark:
        m = node.start_mark
        return Mark(self.filename, m.line + 1, m.column + 1)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if node in self.recursive_objects:
            fix = "use a link (!@ path) to refer to another object, or copy the values"
            what = "an alias refers to a node that contains it (a recursive structure)"
            raise ConfigError(what, self._mark(node), fix=fix)
        return super().construct_object(node, deep=True)

    def construct_torchon_map(self, node: MappingNode) -> CMap:
        self.flatten_mapping(node)
        result = CMap(self._mark(node))
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            key_mark = self._mark(key_node)
            if not isinstance(key, (str, int, float, bool)) or isinstance(key, (TagNode, LinkNode)):
                fix = "write the key as a plain word, and put objects in the value"
                raise ConfigError("mapping keys must be plain strings or numbers", key_mark, fix=fix)
            if key in result:
                what = f"duplicate key {key!r} (first given at line {result.key_marks[key].line})"
                raise ConfigError(what, key_mark, fix="remove one of the two, or rename it")
            result.key_marks[key] = key_mark
            result.value_marks[key] = self._mark(value_node)
            if value_node in self.constructed_objects:  # an alias (*name): overriding its anchor changes it
                self.aliases.setdefault(result.value_marks[key], []).append((result, key))
            result[key] = self.construct_object(value_node, deep=True)
        return result

    def construct_torchon_seq(self, node: SequenceNode) -> CList:
        result = CList(self._mark(node))
        for child in node.value:
            result.marks.append(self._mark(child))
            if child in self.constructed_objects:
                self.aliases.setdefault(result.marks[-1], []).append((result, len(result.marks) - 1))
            result.append(self.construct_object(child, deep=True))
        return result

    def construct_local_tag(self, suffix: str, node: Any) -> Any:
        mark = self._mark(node)
        if suffix.startswith("@"):
            return self._construct_link(suffix[1:], node, mark)
        tag = suffix[:-1] if suffix.endswith(":") else suffix
        if not tag:
            raise ConfigError("empty tag '!'", mark, fix="write a tag name after '!', such as !Trainer")
        if isinstance(node, MappingNode):
            return TagNode(tag, self.construct_torchon_map(node), "mapping", mark)
        if isinstance(node, SequenceNode):
            return TagNode(tag, self.construct_torchon_seq(node), "sequence", mark)
        value = self.construct_scalar(node)
        if value != "":
            value = self._resolve_scalar(node, value)
        return TagNode(tag, value, "scalar", mark)

    def _resolve_scalar(self, node: ScalarNode, value: str) -> Any:
        """A tagged scalar (``!Foo 3``) keeps YAML's implicit typing of its value."""
        if node.style:  # quoted: a string
            return value
        tag = self.resolver.resolve(ScalarNode, value, (True, False))
        plain = ScalarNode(tag, value, node.start_mark, node.end_mark)
        return self.construct_object(plain, deep=True)

    def _construct_link(self, inline: str, node: Any, mark: Mark) -> LinkNode:
        if not isinstance(node, ScalarNode):
            fix = "write the link as `!@ stage.attribute`"
            raise ConfigError("a link (!@) takes a path, not a mapping or list", mark, fix=fix)
        text = (inline + " " + str(self.construct_scalar(node))).strip()
        parts = parse_link_path(text)
        if parts is None:
            fix = "write links as `!@ name.attribute[key]`: names separated by dots, indexes in brackets"
            raise ConfigError(f"malformed link path {text!r}", mark, fix=fix)
        return LinkNode(text, parts, mark)

    def construct_python_tag(self, suffix: str, node: Any) -> Any:
        what = f"the YAML tag !!python/{suffix} is not allowed: configs cannot run arbitrary Python"
        fix = "name a registered component (!Name) or a class of a declared extension (!my_ext.Name)"
        raise ConfigError(what, self._mark(node), fix=fix)

    def construct_undefined(self, node: Any) -> None:
        fix = (
            "use a torchon tag such as !Name or !ext.Name; standard YAML tags are !!str, !!int, !!float, "
            "!!bool, !!null, !!map and !!seq"
        )
        raise ConfigError(f"unknown YAML tag {node.tag!s}", self._mark(node), fix=fix)


_Constructor.add_constructor("tag:yaml.org,2002:map", _Constructor.construct_torchon_map)
_Constructor.add_constructor("tag:yaml.org,2002:seq", _Constructor.construct_torchon_seq)
_Constructor.add_multi_constructor("!", _Constructor.construct_local_tag)
_Constructor.add_multi_constructor("tag:yaml.org,2002:python/", _Constructor.construct_python_tag)
_Constructor.add_constructor(None, _Constructor.construct_undefined)
# Types that safe YAML builds but a config has no use for; refusing them keeps configs plain data.
for _unsupported in ("set", "omap", "pairs", "binary"):
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_unsupported}", _Constructor.construct_undefined)


def parse_documents(
    text: str,
    filename: str = "<config>",
    aliases: dict[Mark, list[tuple[Any, Any]]] | None = None,
    position: Callable[[int, int], Mark] | None = None,
) -> list[Any]:
    """Parse every YAML document of ``text`` into the config tree, raising :class:`ConfigError` on bad input.
    ``aliases`` receives, for each value YAML aliases (``*name``) repeat, where it is written -> the (mapping, key)
    or (list, index) places of its aliases. ``position`` maps a 0-based line and column of ``text`` to the mark to
    give (when ``text`` is put together from other sources: the command line's overrides)."""
    yaml = YAML(typ="safe")
    yaml.Resolver = _Resolver
    fields: dict[str, Any] = {"filename": filename, "aliases": {} if aliases is None else aliases}
    if position is not None:
        fields["_mark"] = lambda self, node: position(node.start_mark.line, node.start_mark.column)
    yaml.Constructor = type("_FileConstructor", (_Constructor,), fields)
    try:
        return list(yaml.load_all(text))
    except ConfigError as exc:
        raise exc.attach_source(text) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is None:
            where = None
        elif position is not None:
            where = position(mark.line, mark.column)
        else:
            where = Mark(filename, mark.line + 1, mark.column + 1)
        problem = exc.problem or exc.context or "invalid YAML"
        fix = "check indentation, colons and quotes on this line and the one before"
        if isinstance(exc, ConstructorError):
            fix = "check the value's YAML type"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise ConfigError(f"invalid YAML: {problem}{context}", where, fix=fix).attach_source(text) from None
    except RecursionError:
        raise ConfigError("the config nests too deeply", None, fix="flatten the structure") from None
