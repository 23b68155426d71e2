"""The hook specifications: everything a torchon plugin can provide (documented in ``docs/plugins.md``).

A *registration* hook ``torchon_register_X(X: XRegistry)`` receives a registry and adds names to it, each mapped to
a ``"module:attr"`` string imported only on use, so a plugin's entry module must stay cheap. The plugin manager
derives its tables from these specs: a new kind of registration is a spec here and its registry class in
:mod:`torchon.registry`, or a spec a plugin adds (:func:`torchon_add_hookspecs`; torchon-search adds executors and
the trial hooks), filled through a :class:`~torchon.registry.NameRegistry`. The other hooks add options to someone
else's command, or hear what a run is doing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    from torchon.plugins import PluginManager
    from torchon.registry import (
        CommandRegistry,
        ResolverRegistry,
        SaverRegistry,
        StorageRegistry,
        TagRegistry,
    )
    from torchon.session import RunInfo

PROJECT = "torchon"
REGISTRATION_PREFIX = "torchon_register_"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# -- Plugins' own hooks: a plugin adds their specs as it is registered, for the plugins that implement them.


@hookspec(historic=True)
def torchon_add_hookspecs(manager: PluginManager) -> None:
    """Add this plugin's own hook specifications, as pytest's ``pytest_addhooks`` does (torchon-search adds
    ``torchon_register_executors`` and the trial hooks). Historic: a plugin registered later is called too.

    :param manager: ``manager.add_hookspecs(module)``; a spec ``torchon_register_X(X)`` there makes ``X`` a table
        (``manager.table("X")``) that plugins fill, those registered earlier included.
    """


# -- Registrations: called once when plugins load, each plugin on its own, so every name is attributed to the
# plugin that registered it (two plugins registering one name is an error naming both).


@hookspec
def torchon_register_tags(tags: TagRegistry) -> None:
    """Register the YAML tags a config may use.

    :param tags: ``tags.add("Trainer", "pkg.mod:Trainer")`` for ``!Trainer``; ``tags.add_namespace("torch.nn",
        "torch.nn")`` for ``!torch.nn.Linear``; ``tags.add_value("grid", "pkg.space:grid")`` for a tag whose
        function receives the built value and returns what the config holds.
    """


@hookspec
def torchon_register_savers(savers: SaverRegistry) -> None:
    """Register savers, which save one part of a component's state and load it back.

    :param savers: ``savers.add("npy", "pkg.savers:NpySaver", safety="data")``; ``safety="code"`` savers (loading
        can run code, as pickle does) load only when the caller passes ``trust=True``.
    """


@hookspec
def torchon_register_storage(storage: StorageRegistry) -> None:
    """Register storage backends by URI scheme, used by ``torchon.save`` and ``torchon.load``.

    :param storage: ``storage.add("s3", "torchon_s3.storage:S3Storage")`` for ``s3://`` URIs.
    """


@hookspec
def torchon_register_resolvers(resolvers: ResolverRegistry) -> None:
    """Register extension resolvers by spec kind (``local``, ``git``, ``pypi``, or ``KIND`` of ``KIND+spec``):
    each makes a config header's extension importable and says what it resolved to, for the run's lock.

    :param resolvers: ``resolvers.add("hg", "pkg.hg:HgResolver")``.
    """


@hookspec
def torchon_register_commands(commands: CommandRegistry) -> None:
    """Register ``torchon`` subcommands; ``torchon --help`` lists them without importing their modules.

    :param commands: ``commands.add("serve", "pkg.cli:ServeCommand", help="...")``; the target has
        ``configure(parser)`` and ``run(args) -> int`` (the exit status).
    """


# -- Options of other plugins' commands: called when the command line is parsed, for the command being run only.


@hookspec
def torchon_add_options(command: str, parser: argparse.ArgumentParser) -> None:
    """Add options to ``torchon COMMAND`` (torchon-search adds ``--executor`` to ``run``).

    :param command: the command being set up (``run``, ``serve``, ...).
    :param parser: its ``argparse`` parser, holding the command's own options already.
    """


@hookspec
def torchon_apply_options(command: str, args: argparse.Namespace) -> Mapping[str, Any] | None:
    """Check the options this plugin added and say what they put in force, before the command does anything;
    raise ``torchon.errors.UsageError`` for a value that cannot be.

    :param command: the command being run.
    :param args: the parsed command line.
    :return: what to put in force (for ``run``: joins ``get_env().extra`` and ``run.json``), or None.
    """


# -- Lifecycle: what a run is doing. A plugin's failure here is logged and the run goes on.


@hookspec
def torchon_run_started(run: RunInfo) -> None:
    """A run started (its folder holds the config, ``torchon.lock`` and ``run.json``); ``setup`` is next.

    Called in the process of ``torchon run`` only; the run waits for it.

    :param run: the run: its folder, its config, its top object, ``run.json``.
    """


@hookspec
def torchon_run_finished(run: RunInfo) -> None:
    """A run ended (``run.status``: ``succeeded``, ``failed`` or ``interrupted``) and its folder is complete.

    :param run: the run given to :func:`torchon_run_started`, its ``record`` now final.
    """


# -- Configs: what a plugin does to a config as it loads.


@hookspec(firstresult=True)
def torchon_apply_overrides(root: Any, overrides: Sequence[str], aliases: Mapping[Any, Any]) -> bool | None:
    """Change a parsed config as the command line's overrides say (``torchon run CONFIG a.b=1 +c=2 ~d``), before
    it is checked; torchon-overrides implements it. Raise ``torchon.api.ConfigError`` marked in
    ``torchon.api.COMMAND_LINE`` (line N: the N-th override) for one that cannot apply.

    :param root: the config's top object (a ``torchon.api.TagNode``), changed in place.
    :param overrides: the overrides as given, in order.
    :param aliases: where each YAML-anchored value is written -> the places its aliases repeat it.
    :return: True when applied; the first plugin that returns True applies them, and the others are not called.
    """


__all__ = ["hookimpl", "hookspec", *sorted(name for name in [*globals()] if name.startswith(f"{PROJECT}_"))]
