"""The registries that registration hooks add to: names mapped to ``"module:attr"`` strings.

Each registry is a typed façade over one :class:`Table`. A table remembers which plugin added each name, so
``torchon plugins`` can list a plugin's tags and a clash between two plugins names both of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from torchon.errors import TorchonError
from torchon.importing import TARGET_RE, import_target

__all__ = [
    "CommandRegistry",
    "Conflict",
    "Entry",
    "NameRegistry",
    "RegistrationError",
    "ResolverRegistry",
    "SaverRegistry",
    "StorageRegistry",
    "Table",
    "TagRegistry",
]

_NAME_RE = re.compile(r"^[A-Za-z_]\w*$")
_DOTTED_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*$")
_COMMAND_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_SAVER_RE = re.compile(r"^[A-Za-z_][\w-]*$")  # also a folder name inside bundles
# What a NameRegistry accepts for each of the kernel's tables: the names' pattern, and what they are called in
# errors. A table a plugin adds (torchon_add_hookspecs) takes identifiers, called by its singular (an executor).
_NAMES = {
    "storage": (_SCHEME_RE, "storage scheme"),
    "resolvers": (_NAME_RE, "resolver kind"),
    "commands": (_COMMAND_RE, "command"),
}

Safety = Literal["data", "code"]


class RegistrationError(TorchonError, ValueError):
    """A plugin registered something malformed; the message names the plugin and what is wrong."""


class Entry(NamedTuple):
    """One registered name. (Named tuples, not dataclasses: every command builds these before it starts.)"""

    table: str
    name: str
    target: str
    plugin: str
    help: str = ""
    options: Mapping[str, Any] = MappingProxyType({})

    def load(self) -> Any:
        """Import and return the target."""
        return import_target(self.target)


class Conflict(NamedTuple):
    """Two plugins registered one name."""

    table: str
    name: str
    first: Entry
    second: Entry


class Table:
    """Names of one kind (tags, savers, ...) with the plugin that registered each."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.entries: dict[str, Entry] = {}
        self.conflicts: list[Conflict] = []

    def add(self, name: str, target: str, plugin: str, *, help: str = "", **options: Any) -> Entry:
        entry = Entry(self.kind, name, target, plugin, help, options)
        previous = self.entries.get(name)
        if previous is not None and previous.plugin != plugin:
            self.conflicts.append(Conflict(self.kind, name, previous, entry))
            return previous
        self.entries[name] = entry
        return entry

    def get(self, name: str) -> Entry | None:
        return self.entries.get(name)

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (it failed part-way)."""
        self.entries = {k: e for k, e in self.entries.items() if e.plugin != plugin}
        self.conflicts = [c for c in self.conflicts if plugin not in (c.first.plugin, c.second.plugin)]

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def names(self) -> list[str]:
        return sorted(self.entries)

    def by_plugin(self, plugin: str) -> list[Entry]:
        return [e for e in self if e.plugin == plugin]

    def by_target(self, target: str) -> Entry | None:
        return next((e for e in self if e.target == target), None)


class _Registry:
    """Base of the façades handed to hooks; ``plugin`` is set by the manager before each implementation runs."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.plugin = "?"

    def _fail(self, message: str) -> RegistrationError:
        return RegistrationError(f"plugin {self.plugin!r} registered {message}")

    def _check(self, name: str, target: str, pattern: re.Pattern[str], what: str) -> None:
        if not isinstance(name, str) or not pattern.match(name):
            raise self._fail(f"an invalid {what} name {name!r}")
        if not isinstance(target, str) or not TARGET_RE.match(target):
            form = "targets are strings of the form 'package.module:Attribute'"
            raise self._fail(f"{what} {name!r} with target {target!r}; {form}")


class TagRegistry(_Registry):
    """Tags a config may use: component tags, value tags and namespaces."""

    def __init__(self, table: Table, namespaces: Table) -> None:
        super().__init__(table)
        self.namespaces = namespaces

    def add(self, name: str, target: str, *, help: str = "") -> None:
        """``!name`` builds the class (or calls the factory) at ``target``."""
        self._check(name, target, _NAME_RE, "tag")
        self.table.add(name, target, self.plugin, help=help, kind="component")

    def add_value(self, name: str, target: str, *, aliases: Iterable[str] = (), help: str = "") -> None:
        """``!name VALUE`` calls the function at ``target`` with the built value (search spaces, artifacts)."""
        for tag in (name, *aliases):
            self._check(tag, target, _NAME_RE, "value tag")
            self.table.add(tag, target, self.plugin, help=help, kind="value", canonical=name)

    def add_namespace(self, prefix: str, module: str, *, help: str = "") -> None:
        """``!prefix.Name`` builds class ``Name`` of ``module`` (e.g. ``torch.nn`` for ``!torch.nn.Linear``)."""
        if not isinstance(prefix, str) or not _DOTTED_RE.match(prefix):
            raise self._fail(f"an invalid namespace {prefix!r}")
        if not isinstance(module, str) or not _DOTTED_RE.match(module):
            raise self._fail(
                f"namespace {prefix!r} with module {module!r}; give a dotted module name such as 'torch.nn'"
            )
        self.namespaces.add(prefix, module + ":__name__", self.plugin, help=help, module=module)


class SaverRegistry(_Registry):
    """Savers by name, each with its safety class, and the types of objects each saves by itself."""

    def add(
        self,
        name: str,
        target: str,
        *,
        safety: Safety,
        types: Iterable[str] = (),
        values: Iterable[str] = (),
        help: str = "",
    ) -> None:
        """``types``: classes (``"module:Class"``) whose objects anywhere in a saved tree this saver saves and
        restores in place; ``values``: classes of state values it takes out of a component's state and puts back.
        Checked only once their module is imported, so naming a type imports nothing."""
        self._check(name, target, _SAVER_RE, "saver")
        if safety not in ("data", "code"):
            raise self._fail(f"saver {name!r} with safety {safety!r}; use 'data' or 'code'")
        type_list, value_list = tuple(types), tuple(values)
        for type_name in (*type_list, *value_list):
            if not isinstance(type_name, str) or not TARGET_RE.match(type_name):
                raise self._fail(
                    f"saver {name!r} for type {type_name!r}; give types as 'package.module:Class'"
                )
        self.table.add(
            name, target, self.plugin, help=help, safety=safety, types=type_list, values=value_list
        )


class NameRegistry(_Registry):
    """The one generic registry of plain names: storage schemes, resolver kinds, commands, and every kind a plugin
    adds (torchon-search's executors)."""

    def add(self, name: str, target: str, *, help: str = "") -> None:
        kind = self.table.kind
        self._check(name, target, *_NAMES.get(kind, (_NAME_RE, kind.removesuffix("s"))))
        self.table.add(name, target, self.plugin, help=help)


StorageRegistry = NameRegistry
ResolverRegistry = NameRegistry
CommandRegistry = NameRegistry
