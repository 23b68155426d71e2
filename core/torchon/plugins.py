"""Finding and loading plugins: the typed façade the rest of torchon calls, never raw ``pm.hook.x(...)``.

Plugins are modules named by entry points in group ``torchon``, found in installed distributions' metadata.
torchon's own behaviour lives in :data:`BUILTIN_PLUGINS` and registers through the same hooks.

Controls, as in pytest: ``TORCHON_DISABLE_PLUGIN_AUTOLOAD=1`` turns entry-point discovery off; ``-p NAME`` loads
only the named plugins (by entry-point name, distribution name, or module path); ``-p no:NAME`` and
``TORCHON_DENY_PLUGINS=a,b`` keep plugins out. A plugin that fails to import or to register is recorded with the
reason and skipped, so one broken plugin does not take the command line down.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from torchon import hookspecs
from torchon import registry as registry_module
from torchon.entrypoints import entry_points
from torchon.errors import UserError
from torchon.registry import Conflict, Table, TagRegistry

logger = logging.getLogger("torchon.plugins")

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PluginConflictError",
    "PluginInfo",
    "PluginManager",
    "PluginNotFoundError",
    "get_manager",
    "set_manager",
]

ENTRY_POINT_GROUP = "torchon"
AUTOLOAD_ENV = "TORCHON_DISABLE_PLUGIN_AUTOLOAD"
DENY_ENV = "TORCHON_DENY_PLUGINS"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "torchon.builtin.commands",
    "torchon.builtin.extensions",
    "torchon.builtin.savers",
    "torchon.builtin.storage",
    "torchon.builtin.tags",
)


def _registration_hooks() -> dict[str, tuple[str, str]]:
    """``hook name -> (table, registry class name)``, read from the specs in :mod:`torchon.hookspecs`."""
    import inspect

    hooks = {}
    for name, spec in vars(hookspecs).items():
        if name.startswith(hookspecs.REGISTRATION_PREFIX) and callable(spec):
            (param,) = inspect.signature(spec).parameters.values()
            hooks[name] = (param.name, str(param.annotation))
    return hooks


REGISTRATION_HOOKS = _registration_hooks()
# ``namespaces`` is filled by the tags hook's registry (``tags.add_namespace``), beside ``tags``.
TABLES = (*(table for table, _ in REGISTRATION_HOOKS.values()), "namespaces")


class PluginConflictError(UserError, RuntimeError):
    """Two plugins registered the same name."""


class PluginNotFoundError(UserError, LookupError):
    """``-p NAME`` named a plugin that is not installed."""

    exit_code = 2


@dataclass
class PluginInfo:
    """What ``torchon plugins`` shows about one plugin."""

    name: str
    module: str
    distribution: str
    version: str
    builtin: bool = False
    seconds: float = 0.0
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)

    @property
    def loaded(self) -> bool:
        return self.error is None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


class PluginManager:
    """Loads plugins and holds what they registered."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self.tables: dict[str, Table] = {name: Table(name) for name in TABLES}
        self.plugins: dict[str, PluginInfo] = {}

    # -- construction ---------------------------------------------------------------------------------------

    @classmethod
    def from_options(
        cls,
        plugins: Sequence[str] = (),
        *,
        autoload: bool | None = None,
        environ: dict[str, str] | None = None,
    ) -> PluginManager:
        """A manager loaded as the command line asks: ``plugins`` are the ``-p`` values."""
        environ = dict(os.environ if environ is None else environ)
        only = [p for p in plugins if not p.startswith("no:")]
        deny = [p[3:] for p in plugins if p.startswith("no:")]
        deny += [d.strip() for d in environ.get(DENY_ENV, "").split(",") if d.strip()]
        if autoload is None:
            autoload = not _truthy(environ.get(AUTOLOAD_ENV))
        manager = cls()
        manager.load_builtins()
        manager.load_entry_points(autoload=autoload, only=only, deny=deny)
        return manager

    def load_builtins(self) -> None:
        from torchon import __version__

        for module_name in BUILTIN_PLUGINS:
            short = module_name.rsplit(".", 1)[-1]
            self._load(f"torchon.{short}", module_name, "torchon", __version__, builtin=True)

    def load_entry_points(
        self, *, autoload: bool = True, only: Sequence[str] = (), deny: Sequence[str] = ()
    ) -> None:
        """Load plugins from entry points; with ``only``, just those (entry-point, distribution or module name)."""
        for name in deny:  # pluggy refuses blocked names from now on, whoever registers them
            self._pm.set_blocked(name)
        wanted = set(only)
        found: set[str] = set()
        if autoload or wanted:
            for ep in entry_points(ENTRY_POINT_GROUP):
                if (
                    ep.name in self.plugins
                    or self._pm.is_blocked(ep.name)
                    or self._pm.is_blocked(ep.distribution)
                ):
                    continue
                if wanted:
                    hit = {ep.name, ep.distribution, ep.value} & wanted
                    if not hit:
                        continue
                    found |= hit
                self._load(ep.name, ep.value, ep.distribution, ep.version)
        for name in sorted(wanted - found):
            if name in self.plugins:
                continue
            try:
                found_spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                found_spec = None
            if found_spec is None:
                installed = sorted({ep.name for ep in entry_points(ENTRY_POINT_GROUP)})
                raise PluginNotFoundError(
                    f"plugin {name!r} is not installed (installed plugins: {', '.join(installed) or 'none'}); "
                    f"install the distribution that provides it, or give an importable module path"
                ) from None
            self._load(name, name, "(module)", "")  # import failures are recorded, as for entry points

    def register(
        self, plugin: ModuleType | object, name: str, *, distribution: str = "(local)", version: str = ""
    ) -> PluginInfo:
        """Register an already imported plugin object (tests, extensions that carry hooks)."""
        return self._load(name, plugin, distribution, version)

    def _load(
        self,
        name: str,
        module: str | ModuleType | object,
        distribution: str,
        version: str,
        *,
        builtin: bool = False,
    ) -> PluginInfo:
        module_name = module if isinstance(module, str) else getattr(module, "__name__", repr(module))
        info = PluginInfo(name, module_name, distribution, version, builtin=builtin)
        self.plugins[name] = info
        start = time.perf_counter()
        try:
            obj = _import_plugin(module) if isinstance(module, str) else module
        except BaseException as exc:  # a plugin's import may raise anything, even SystemExit
            info.error = f'Error importing plugin "{name}": {type(exc).__name__}: {exc}'
            info.seconds = time.perf_counter() - start
            return info
        if self._pm.is_blocked(name):
            info.error = f'Plugin "{name}" is denied (-p no:{name} or {DENY_ENV})'
            return info
        try:
            self._pm.register(obj, name=name)
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self._unregister(name)
            info.error = f'Plugin "{name}" is invalid: {exc}'
            info.seconds = time.perf_counter() - start
            return info
        try:
            self._run_registrations(name, info)
        except Exception as exc:  # RegistrationError, or any bug in the plugin's hook
            for table in self.tables.values():
                table.remove_plugin(name)  # all or nothing: a half-registered plugin is not usable
            info.registered.clear()
            self._unregister(name)
            info.error = f'Plugin "{name}" failed to register: {type(exc).__name__}: {exc}'
        info.seconds = time.perf_counter() - start
        return info

    def _unregister(self, name: str) -> None:
        if self._pm.has_plugin(name):
            self._pm.unregister(name=name)

    def _registry(self, table: str, class_name: str) -> Any:
        cls = getattr(registry_module, class_name)
        if cls is TagRegistry:
            return TagRegistry(self.tables["tags"], self.tables["namespaces"])
        return cls(self.tables[table])

    def _run_registrations(self, name: str, info: PluginInfo) -> None:
        """Call each registration hook of one plugin, through pluggy, with registries that attribute every name
        it adds to that plugin."""
        plugin = self._pm.get_plugin(name)
        others = [p for p in self._pm.get_plugins() if p is not plugin]
        for hook_name, (table, class_name) in REGISTRATION_HOOKS.items():
            registry = self._registry(table, class_name)
            registry.plugin = name
            self._pm.subset_hook_caller(hook_name, remove_plugins=others)(**{table: registry})
        for table_name in TABLES:
            names = [e.name for e in self.tables[table_name].by_plugin(name)]
            if names:
                info.registered[table_name] = names

    # -- options other plugins add to commands ---------------------------------------------------------------

    def add_options(self, command: str, parser: Any) -> None:
        """Let plugins add options to ``command``'s parser (``torchon_add_options``)."""
        self._pm.hook.torchon_add_options(command=command, parser=parser)

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call every plugin's ``hook`` (a hook spec's name), each on its own: one that raises is logged with
        its plugin's name, and the others still run. For events (a run started) that no plugin may change."""
        caller = getattr(self._pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):  # in pluggy's order: the last registered first
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception:
                logger.warning(
                    "plugin %r failed in %s; the run goes on", impl.plugin_name, hook, exc_info=True
                )

    def apply_options(self, command: str, args: Any) -> dict[str, Any]:
        """What plugins' options put in force for ``command`` (``torchon_apply_options``), merged."""
        merged: dict[str, Any] = {}
        for result in reversed(self._pm.hook.torchon_apply_options(command=command, args=args)):
            merged.update(result or {})
        return merged

    # -- queries --------------------------------------------------------------------------------------------

    @property
    def tags(self) -> Table:
        return self.tables["tags"]

    @property
    def namespaces(self) -> Table:
        return self.tables["namespaces"]

    @property
    def savers(self) -> Table:
        return self.tables["savers"]

    @property
    def storage(self) -> Table:
        return self.tables["storage"]

    @property
    def resolvers(self) -> Table:
        return self.tables["resolvers"]

    @property
    def executors(self) -> Table:
        return self.tables["executors"]

    @property
    def commands(self) -> Table:
        return self.tables["commands"]

    def failed(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if p.error]

    def conflicts(self) -> list[Conflict]:
        return [c for table in self.tables.values() for c in table.conflicts]

    def describe_plugin(self, plugin: str) -> str:
        info = self.plugins.get(plugin)
        if info is None:
            return f"plugin {plugin!r}"
        if info.distribution == "(module)":
            return f"plugin {plugin!r} (module {info.module})"
        version = f" {info.version}" if info.version else ""
        return f"plugin {plugin!r} (distribution {info.distribution}{version})"

    def conflict_message(self, conflict: Conflict) -> str:
        what = {"tags": "tag !", "namespaces": "namespace !", "commands": "command "}.get(conflict.table, "")
        label = f"{what}{conflict.name}" if what else f"{conflict.table[:-1]} {conflict.name!r}"
        return (
            f"{label} is registered by both {self.describe_plugin(conflict.first.plugin)} and "
            f"{self.describe_plugin(conflict.second.plugin)}; uninstall one of them or leave one out "
            f"with -p no:{conflict.second.plugin}"
        )

    def check_conflicts(self, tables: Iterable[str] = TABLES) -> None:
        """Raise :class:`PluginConflictError` naming both plugins of every clash in ``tables``."""
        wanted = set(tables)
        messages = [self.conflict_message(c) for c in self.conflicts() if c.table in wanted]
        if messages:
            raise PluginConflictError("\n".join(messages))


def _import_plugin(value: str) -> Any:
    """An entry point's value: ``package.module`` or ``package.module:attribute``."""
    module_name, _, attr = value.partition(":")
    obj: Any = importlib.import_module(module_name.strip())
    for part in attr.strip().split(".") if attr.strip() else ():
        obj = getattr(obj, part)
    return obj


_manager: PluginManager | None = None


def get_manager() -> PluginManager:
    """The process's plugin manager, loading plugins on first use as the environment says."""
    global _manager
    if _manager is None:
        _manager = PluginManager.from_options()
    return _manager


def set_manager(manager: PluginManager | None) -> PluginManager | None:
    """Install ``manager`` as the process's (``None`` resets to lazy loading); returns the previous one."""
    global _manager
    previous, _manager = _manager, manager
    return previous
