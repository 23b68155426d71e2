"""Finding and loading plugins: the typed façade the rest of torchon calls, never raw ``pm.hook.x(...)``.

Plugins are modules named by entry points in group ``torchon``; :data:`BUILTIN_PLUGINS` register through the same
hooks. As in pytest: ``TORCHON_DISABLE_PLUGIN_AUTOLOAD=1`` turns discovery off, ``-p NAME`` loads just the named
plugins, ``-p no:NAME`` and ``TORCHON_DENY_PLUGINS=a,b`` keep plugins out. A plugin that fails to import or to
register is recorded with the reason and skipped, so one broken plugin does not take the command line down.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from torchon import hookspecs
from torchon import registry as registry_module
from torchon.entrypoints import entry_points
from torchon.errors import UserError
from torchon.first_party import first_party
from torchon.registry import Conflict, Table, TagRegistry

if TYPE_CHECKING:
    from types import ModuleType

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

BUILTIN_PLUGINS = tuple(
    f"torchon.builtin.{name}" for name in ("commands", "extensions", "savers", "storage", "tags")
)


# ``hook name -> (table, registry class name)``: the spec ``torchon_register_X(X: XRegistry)`` fills table ``X``.
REGISTRATION_HOOKS = {
    name: next(iter(spec.__annotations__.items()))  # its one parameter, first; its return type after
    for name, spec in vars(hookspecs).items()
    if name.startswith(hookspecs.REGISTRATION_PREFIX)
}
# ``namespaces`` is filled by the tags hook's registry (``tags.add_namespace``), beside ``tags``.
TABLES = (*(table for table, _ in REGISTRATION_HOOKS.values()), "namespaces")


class PluginConflictError(UserError, RuntimeError):
    """Two plugins registered the same name."""


class PluginNotFoundError(UserError, LookupError):
    """``-p NAME`` named a plugin that is not installed."""

    exit_code = 2


class _Pluggy(pluggy.PluginManager):
    """pluggy's manager, looking only at names that start with ``torchon_`` for hooks, as pytest's does with
    ``pytest_``: pluggy otherwise inspects every attribute of every plugin module (its imports too), which is most
    of what loading a plugin costs at startup."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        return super().parse_hookimpl_opts(plugin, name) if name.startswith(_PREFIX) else None

    def parse_hookspec_opts(self, module_or_class: Any, name: str) -> Any:
        return super().parse_hookspec_opts(module_or_class, name) if name.startswith(_PREFIX) else None


_PREFIX = f"{hookspecs.PROJECT}_"


class PluginInfo:
    """What ``torchon plugins`` shows about one plugin (a plain class: no command imports dataclasses to start)."""

    def __init__(
        self, name: str, module: str, distribution: str, version: str, builtin: bool = False
    ) -> None:
        self.name = name
        self.module = module
        self.distribution = distribution
        self.version = version
        self.builtin = builtin
        self.seconds = 0.0
        self.error: str | None = None
        self.registered: dict[str, list[str]] = {}

    @property
    def loaded(self) -> bool:
        return self.error is None


class PluginManager:
    """Loads plugins and holds what they registered, one :class:`Table` each (``manager.tags``, ...; the kinds
    plugins add, such as torchon-search's executors, with ``manager.table("executors")``)."""

    tags: Table
    namespaces: Table
    savers: Table
    storage: Table
    resolvers: Table
    commands: Table

    def __init__(self) -> None:
        self._pm = _Pluggy(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self.registrations = dict(REGISTRATION_HOOKS)  # and those of the specs plugins add
        self.tables: dict[str, Table] = {name: Table(name) for name in TABLES}
        vars(self).update(self.tables)  # the attributes declared above
        self.plugins: dict[str, PluginInfo] = {}
        self._registering: str | None = None  # the plugin pluggy is registering now
        self._pm.hook.torchon_add_hookspecs.call_historic(kwargs={"manager": self})

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
            autoload = environ.get(AUTOLOAD_ENV, "").strip().lower() in ("", "0", "false", "no", "off")
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
        for ep in entry_points(ENTRY_POINT_GROUP) if autoload or wanted else ():
            hit = {ep.name, ep.distribution, ep.value} & wanted
            blocked = self._pm.is_blocked(ep.name) or self._pm.is_blocked(ep.distribution)
            if ep.name in self.plugins or blocked or (wanted and not hit):
                continue
            found |= hit
            self._load(ep.name, ep.value, ep.distribution, ep.version)
        for name in sorted(wanted - found - set(self.plugins)):
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
        self.check_pending()

    def register(
        self, plugin: object, name: str, *, distribution: str = "(local)", version: str = ""
    ) -> PluginInfo:
        """Register an already imported plugin object (tests, extensions that carry hooks); then
        :meth:`check_pending` refuses a hook no plugin specifies, as loading does."""
        return self._load(name, plugin, distribution, version)

    def add_hookspecs(self, module: ModuleType) -> None:
        """Add a plugin's hook specs (its ``torchon_add_hookspecs``, pytest's ``pytest_addhooks``). Plugins loaded
        before keep their implementations, checked now; a spec ``torchon_register_X(X)`` makes table ``X``."""
        specs = [name for name in vars(module) if self._pm.parse_hookspec_opts(module, name) is not None]
        prefix = hookspecs.REGISTRATION_PREFIX
        new = {n: getattr(module, n).__code__.co_varnames[0] for n in specs if n.startswith(prefix)}
        if taken := sorted(set(new.values()) & set(self.tables)):
            raise ValueError(f"it adds tables that exist already: {', '.join(taken)}")
        callers = [getattr(self._pm.hook, name) for name in specs if hasattr(self._pm.hook, name)]
        waiting = {i.plugin_name: i.plugin for c in callers for i in c.get_hookimpls()}  # loaded before
        waiting.pop(self._registering or "", None)  # pluggy checks its own as it registers it
        # pluggy's add_hookspecs stops at the first implementation that does not fit: check them all first
        if waiting:
            scratch = _Pluggy(hookspecs.PROJECT)
            scratch.add_hookspecs(module)
            for name, plugin in waiting.items():
                try:
                    scratch.register(plugin, name=name)
                except pluggy.PluginValidationError as exc:
                    self._fail(name, f'Plugin "{name}" is invalid: {exc}')
        self._pm.add_hookspecs(module)
        for hook_name, table in new.items():
            self.registrations[hook_name] = (table, "NameRegistry")
            self.tables[table] = Table(table)
        for name in [n for n in waiting if self._pm.has_plugin(n)]:  # only they implement the new hooks
            try:
                self._run_registrations(name, new)
            except Exception as exc:  # as in _register
                self._fail(name, f'Plugin "{name}" failed to register: {type(exc).__name__}: {exc}')
            self._record(name)

    def check_pending(self) -> None:
        """Refuse each plugin implementing a hook no plugin specifies, unless ``optionalhook=True`` (as pytest
        does, once loading is done: a plugin may add hooks that plugins loaded before it implement)."""
        for hook_name, caller in list(vars(self._pm.hook).items()):
            for impl in [] if hook_name.startswith("_") or caller.has_spec() else caller.get_hookimpls():
                if not impl.optionalhook and self._pm.get_plugin(impl.plugin_name) is impl.plugin:
                    dist = first_party("hookspecs", hook_name)
                    hint = f"; {dist} adds this hook: pip install {dist}" if dist else ""
                    error = f"unknown hook {hook_name!r} in plugin {impl.plugin!r}{hint}"
                    self._fail(impl.plugin_name, f'Plugin "{impl.plugin_name}" is invalid: {error}')

    def _load(
        self, name: str, module: str | object, distribution: str, version: str, *, builtin: bool = False
    ) -> PluginInfo:
        module_name = module if isinstance(module, str) else getattr(module, "__name__", repr(module))
        info = self.plugins[name] = PluginInfo(name, module_name, distribution, version, builtin=builtin)
        start = time.perf_counter()
        info.error = self._register(name, module)
        info.seconds = time.perf_counter() - start
        self._record(name)
        return info

    def _record(self, name: str) -> None:
        """What ``name`` registered, by table (nothing is left in them from a plugin that failed)."""
        found = {kind: [e.name for e in table.by_plugin(name)] for kind, table in self.tables.items()}
        self.plugins[name].registered = {kind: names for kind, names in found.items() if names}

    def hooks_of(self, name: str) -> list[str]:
        """The hooks plugin ``name`` implements besides registrations, without the ``torchon_`` prefix (for
        ``torchon plugins``: what a plugin that registers no names does)."""
        plugin = self._pm.get_plugin(name)
        callers = (self._pm.get_hookcallers(plugin) or []) if plugin is not None else []
        specified = [c.name for c in callers if c.has_spec()]
        return sorted(
            h.removeprefix(_PREFIX) for h in specified if not h.startswith(hookspecs.REGISTRATION_PREFIX)
        )

    def _register(self, name: str, module: str | object) -> str | None:
        """Import and register one plugin, all or nothing; None, or why it failed."""
        try:
            obj = _import_plugin(module) if isinstance(module, str) else module
        except BaseException as exc:  # a plugin's import may raise anything, even SystemExit
            return f'Error importing plugin "{name}": {type(exc).__name__}: {exc}'
        if self._pm.is_blocked(name):
            return f'Plugin "{name}" is denied (-p no:{name} or {DENY_ENV})'
        self._registering = name  # its torchon_add_hookspecs, if any, runs inside pluggy's register
        try:
            self._pm.register(obj, name=name)
        except pluggy.PluginValidationError as exc:
            self._unregister(name)
            return f'Plugin "{name}" is invalid: {exc}'
        except Exception as exc:  # its torchon_add_hookspecs raised
            self._unregister(name)
            return f'Plugin "{name}" failed to add its hooks: {type(exc).__name__}: {exc}'
        finally:
            self._registering = None
        try:
            self._run_registrations(name, self.registrations)
        except Exception as exc:  # RegistrationError, or any bug in the plugin's hook
            self._drop(name)  # a half-registered plugin is not usable
            return f'Plugin "{name}" failed to register: {type(exc).__name__}: {exc}'
        return None

    def _unregister(self, name: str) -> None:
        if self._pm.has_plugin(name):
            self._pm.unregister(name=name)

    def _drop(self, name: str) -> None:
        for table in self.tables.values():
            table.remove_plugin(name)
        self._unregister(name)

    def _fail(self, name: str, error: str) -> None:
        """Take out a plugin loaded already, and all it registered, saying why."""
        self._drop(name)
        self.plugins[name].error = error
        self._record(name)

    def _run_registrations(self, name: str, hook_names: Iterable[str]) -> None:
        """Call one plugin's registration hooks, through pluggy, with registries attributing each name to it."""
        plugin = self._pm.get_plugin(name)
        others = [p for p in self._pm.get_plugins() if p is not plugin]
        for hook_name in hook_names:
            table, class_name = self.registrations[hook_name]
            cls = getattr(registry_module, class_name)
            registry = cls(self.tags, self.namespaces) if cls is TagRegistry else cls(self.tables[table])
            registry.plugin = name
            self._pm.subset_hook_caller(hook_name, remove_plugins=others)(**{table: registry})

    def table(self, name: str) -> Table:
        """The table ``name`` (``tags``, or ``executors`` that torchon-search adds); an empty one when no loaded
        plugin adds it."""
        return self.tables[name] if name in self.tables else Table(name)

    def add_options(self, command: str, parser: Any) -> None:
        """Let plugins add options to ``command``'s parser (``torchon_add_options``)."""
        self._pm.hook.torchon_add_options(command=command, parser=parser)

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call every plugin's ``hook`` on its own, for events no plugin may change (a run started): one that
        raises is logged with its plugin's name, and the others still run."""
        for impl in reversed(
            getattr(self._pm.hook, hook).get_hookimpls()
        ):  # pluggy's order: last registered first
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception:
                import logging  # here, not above: no command imports logging to start

                logging.getLogger("torchon.plugins").warning(
                    "plugin %r failed in %s; the run goes on", impl.plugin_name, hook, exc_info=True
                )

    def apply_options(self, command: str, args: Any) -> dict[str, Any]:
        """What plugins' options put in force for ``command`` (``torchon_apply_options``), merged."""
        merged: dict[str, Any] = {}
        for result in reversed(self._pm.hook.torchon_apply_options(command=command, args=args)):
            merged.update(result or {})
        return merged

    def call(self, hook: str, **kwargs: Any) -> Any:
        """Call ``hook`` through pluggy, as its spec says (``firstresult``: the first answer); errors propagate."""
        return getattr(self._pm.hook, hook)(**kwargs)

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

    def check_conflicts(self, tables: Iterable[str] | None = None) -> None:
        """Raise :class:`PluginConflictError` naming both plugins of every clash in ``tables`` (all: None)."""
        wanted = set(self.tables if tables is None else tables)
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
