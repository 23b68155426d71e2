"""The hook specifications: everything a torchon plugin can provide (documented in ``docs/plugins.md``).

A *registration* hook ``torchon_register_X(X: XRegistry)`` receives a registry and adds names to it, each mapped to
a ``"module:attr"`` string imported only on use, so a plugin's entry module must stay cheap. The plugin manager
derives its tables from these specs: a new kind of registration is a spec here and its registry class in
:mod:`torchon.registry`. The other hooks add options to someone else's command, or hear what a run is doing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    from torchon.registry import (
        CommandRegistry,
        ExecutorRegistry,
        ResolverRegistry,
        SaverRegistry,
        StorageRegistry,
        TagRegistry,
    )
    from torchon.session import RunInfo, TrialInfo

PROJECT = "torchon"
REGISTRATION_PREFIX = "torchon_register_"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

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
def torchon_register_executors(executors: ExecutorRegistry) -> None:
    """Register executors by name: what runs the trials of a Search or the stages of an Experiment.

    :param executors: ``executors.add("ray", "torchon_ray.executor:RayExecutor")`` for ``executor: ray``.
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


# -- Lifecycle: what a run and its trials are doing. A plugin's failure here is logged and the run goes on.


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


@hookspec
def torchon_trial_started(trial: TrialInfo) -> None:
    """A trial of a search (or a variant of an experiment's stage) started; ``trial.cached`` if kept from before.

    :param trial: the trial: its number, stage, parameters, folder.
    """


@hookspec
def torchon_trial_reported(trial: TrialInfo, step: int, metrics: Mapping[str, float]) -> None:
    """A trial finished one step and reported ``metrics`` (its latest value of each) for ``step``.

    :param trial: the trial.
    :param step: the step's number, from 1.
    :param metrics: metric name -> value.
    """


@hookspec
def torchon_trial_finished(trial: TrialInfo) -> None:
    """A trial ended: ``trial.status`` is ``completed``, ``pruned`` or ``failed`` (``trial.error`` says why).

    :param trial: the trial, as it ended, ``trial.value`` its value of the search's metric.
    """


__all__ = ["hookimpl", "hookspec", *sorted(name for name in [*globals()] if name.startswith(f"{PROJECT}_"))]
