"""The hook specifications: everything a torchon plugin can provide.

A plugin is a module (named by an entry point in group ``torchon``) holding functions decorated with
``@torchon.hookimpl`` and named after the hooks below. torchon's own built-in behaviour registers through the same
hooks (see ``torchon.builtin``), so a plugin can do anything the kernel does.

Every hook here is a *registration* hook: it receives a registry and adds names to it, each mapped to a
``"module:attr"`` string. Nothing named is imported until it is used (a config names the tag, a URI has the
scheme, the command is run), so a plugin's entry module must stay cheap: no torch, ray, boto3 or optuna imports at
module level. Registration hooks are called once per process, when the plugins are loaded, each plugin's
implementation separately so that every name is attributed to the plugin that registered it. Two plugins
registering the same name is an error naming both.

Two hooks are not registrations: :func:`torchon_add_options` and :func:`torchon_apply_options` let a plugin add
options to a command of someone else's (torchon-search adds ``--executor`` to ``torchon run``). The *lifecycle*
hooks (:func:`torchon_run_started` ... :func:`torchon_trial_finished`) tell plugins what a run is doing, as it does
it (torchon-mlflow turns runs and trials into MLflow runs); they are called through :mod:`torchon.session`, which
logs a plugin's failure and goes on, so a plugin's hook can never end a run.

Each hook is documented in ``docs/plugins.md``; a test fails when one is missing there. The plugin manager derives
its tables from these specs (a hook ``torchon_register_X(X: XRegistry)`` fills table ``X``), so adding a kind of
registration is adding a spec here and its registry class in ``torchon.registry``.
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

__all__ = [
    "hookimpl",
    "hookspec",
    "torchon_add_options",
    "torchon_apply_options",
    "torchon_register_commands",
    "torchon_register_executors",
    "torchon_register_resolvers",
    "torchon_register_savers",
    "torchon_register_storage",
    "torchon_register_tags",
    "torchon_run_finished",
    "torchon_run_started",
    "torchon_trial_finished",
    "torchon_trial_reported",
    "torchon_trial_started",
]


# -------------------------------------------------------------------------------------------------------------
# Configs: tags and namespaces
# -------------------------------------------------------------------------------------------------------------


@hookspec
def torchon_register_tags(tags: TagRegistry) -> None:
    """Register the YAML tags a config may use.

    ``tags.add("Trainer", "torchon_torch.trainer:Trainer")`` makes ``!Trainer`` build that class;
    ``tags.add_namespace("torch.nn", "torch.nn")`` lets configs write ``!torch.nn.Linear`` for any class of that
    module; ``tags.add_value("grid", "torchon_search.space:grid", aliases=["g"])`` registers a tag for a value
    that is not a component (search spaces, artifacts): the function receives the built value and returns
    what the config holds there.

    :param tags: the registry to add tags to. Names are attributed to the calling plugin.
    :return: ignored.

    Called once when plugins load. Only names are recorded; the targets are imported when a config uses them.
    """


# -------------------------------------------------------------------------------------------------------------
# Bundles: savers and storage
# -------------------------------------------------------------------------------------------------------------


@hookspec
def torchon_register_savers(savers: SaverRegistry) -> None:
    """Register savers, the classes that save one part of a component's state and load it back.

    ``savers.add("safetensors", "torchon_torch.savers:TensorSaver", safety="data")``. A component lists the
    savers it needs by name (or class); the saver chain runs them in reverse on save and forward on load.
    ``safety`` is ``"data"`` (loading runs no code: JSON, YAML, safetensors, npy) or ``"code"`` (loading can run
    code: pickle, joblib); ``code`` savers load only when the caller passes ``trust=True``.

    :param savers: the registry to add savers to.
    :return: ignored.

    Called once when plugins load; a saver class is imported when a component that uses it is saved or loaded.
    """


@hookspec
def torchon_register_storage(storage: StorageRegistry) -> None:
    """Register storage backends by URI scheme.

    ``storage.add("s3", "torchon_s3.storage:S3Storage")`` makes ``torchon.save(obj, "s3://bucket/prefix")`` and
    ``torchon.load("s3://...")`` use that class. The kernel registers ``file`` (and plain local paths).

    :param storage: the registry to add schemes to.
    :return: ignored.

    Called once when plugins load; the backend class is imported when a URI with its scheme is used.
    """


# -------------------------------------------------------------------------------------------------------------
# Extensions and execution
# -------------------------------------------------------------------------------------------------------------


@hookspec
def torchon_register_resolvers(resolvers: ResolverRegistry) -> None:
    """Register extension resolvers by spec kind.

    An extension named in a config header (``my_ext: ./path``, ``ext: https://host/repo.git``,
    ``ext: package==1.0``) is classified into a kind (``local``, ``git``, ``pypi``, or ``KIND`` when written
    ``KIND+spec``) and handed to the resolver registered for that kind, which makes the extension importable
    and reports what it resolved to (path, commit, version) for the run's lock.

    :param resolvers: the registry to add resolvers to.
    :return: ignored.

    Called once when plugins load; a resolver class is imported when a header uses its kind.
    """


@hookspec
def torchon_register_executors(executors: ExecutorRegistry) -> None:
    """Register executors by name: what runs the trials of a Search or the stages of an Experiment.

    ``executors.add("ray", "torchon_ray.executor:RayExecutor")`` lets a config write ``executor: ray``.

    :param executors: the registry to add executors to.
    :return: ignored.

    Called once when plugins load; an executor class is imported when a run selects it.
    """


# -------------------------------------------------------------------------------------------------------------
# Command line
# -------------------------------------------------------------------------------------------------------------


@hookspec
def torchon_register_commands(commands: CommandRegistry) -> None:
    """Register ``torchon`` subcommands.

    ``commands.add("serve", "torchon_export.cli:ServeCommand", help="serve a bundle over HTTP")``. The target is
    an object with ``configure(parser)`` (adds the arguments to an ``argparse`` parser) and ``run(args) -> int``
    (the exit status). ``torchon --help`` lists every command from its name and help text alone; a command's
    module is imported only when that command is used, so keep its import cheap and import heavy libraries
    inside ``run``.

    :param commands: the registry to add commands to.
    :return: ignored.

    Called once when plugins load.
    """


# -------------------------------------------------------------------------------------------------------------
# Command-line options of other commands
# -------------------------------------------------------------------------------------------------------------


@hookspec
def torchon_add_options(command: str, parser: argparse.ArgumentParser) -> None:
    """Add options to ``torchon COMMAND`` (the command's own options are already there).

    torchon-search adds ``--executor NAME`` to ``run``. Keep the names distinct from the command's and other
    plugins' (argparse refuses a clash).

    :param command: the command being set up (``run``, ``serve``, ...).
    :param parser: its ``argparse`` parser.
    :return: ignored.

    Called when the command line is parsed, for the command being run only.
    """


@hookspec
def torchon_apply_options(command: str, args: argparse.Namespace) -> Mapping[str, Any] | None:
    """Check the options this plugin added and say what they put in force, before the command does anything.

    For ``run``, the mapping returned joins the run's environment (``torchon.get_env().extra``) and its
    ``run.json``: ``{"executor": "ray"}``. Raise a ``torchon.errors.UsageError`` for a value that cannot be
    (exit status 2, nothing written).

    :param command: the command being run.
    :param args: the parsed command line.
    :return: what to put in force, or None.

    Called once per command, after parsing, by the commands that take plugins' options.
    """


# -------------------------------------------------------------------------------------------------------------
# Lifecycle: what a run and its trials are doing
# -------------------------------------------------------------------------------------------------------------


@hookspec
def torchon_run_started(run: RunInfo) -> None:
    """A run started: its folder holds the config as run, ``torchon.lock`` and ``run.json``; ``setup`` is next.

    Called in the process of ``torchon run`` only (not in trial workers or data-parallel workers), before the
    objects are set up. Metrics reported in this process from now on reach listeners added with
    ``torchon.metrics.add_listener``. Keep it quick: the run waits for it.

    :param run: the run (:class:`torchon.session.RunInfo`): its folder, its config, its top object, ``run.json``.
    :return: ignored.
    """


@hookspec
def torchon_run_finished(run: RunInfo) -> None:
    """A run ended, however it ended (``run.status``: ``succeeded``, ``failed`` or ``interrupted``), and its folder
    is complete: ``run.json`` holds the final status and exit code, a search's ``results.csv`` and ``report.html``
    are written. Called once for every :func:`torchon_run_started`, with the same ``run``.

    :param run: the run, its ``record`` now final.
    :return: ignored.
    """


@hookspec
def torchon_trial_started(trial: TrialInfo) -> None:
    """A trial of a search (or a variant of an experiment's stage) started, in a worker.

    Called by the search's driver, in the run's process. A trial a rerun does not run again (its result was kept)
    is told too, its metrics reported from its record and ``trial.cached`` true; a trial resumed from its last
    checkpoint is told with the steps it had reported before.

    :param trial: the trial (:class:`torchon.session.TrialInfo`): its number, stage, parameters, folder.
    :return: ignored.
    """


@hookspec
def torchon_trial_reported(trial: TrialInfo, step: int, metrics: Mapping[str, float]) -> None:
    """A trial finished one step and reported ``metrics`` (its latest value of each) for ``step``.

    :param trial: the trial.
    :param step: the step's number, from 1.
    :param metrics: metric name -> value.
    :return: ignored.
    """


@hookspec
def torchon_trial_finished(trial: TrialInfo) -> None:
    """A trial ended: ``trial.status`` is ``completed``, ``pruned`` or ``failed`` (``trial.error`` says why),
    ``trial.value`` its value of the search's metric.

    :param trial: the trial, as it ended.
    :return: ignored.
    """
