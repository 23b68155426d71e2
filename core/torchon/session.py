"""The torchon session of a process: what is in force, how another process gets the same, and how a run's objects
are set up and torn down.

A process's session is its plugin manager (:mod:`torchon.plugins`), its environment (:mod:`torchon.env`), the
entries torchon put on ``sys.path`` (local extensions) and what it learned of the installed distributions
(:mod:`torchon.distributions`). Every process torchon starts — data-parallel workers, trial workers, Ray actors —
starts from :func:`capture` of its parent and calls :func:`restore`, so they all agree on what a config's tags
mean. :func:`running` is the one setup → work → teardown sequence: setup in order, teardown in reverse for every
object that was set up, a failing teardown logged and never hiding the work's own error.

The session also tells plugins what a run is doing: :func:`run_started` and :func:`run_finished` (called by
``torchon run``), :func:`trial_started`, :func:`trial_reported` and :func:`trial_finished` (called by a search's
driver) call the lifecycle hooks of :mod:`torchon.hookspecs` with a :class:`RunInfo` or a :class:`TrialInfo`. A
plugin whose hook raises is logged and the others are still called: what a plugin does with a run (track it in
MLflow) must never change how the run goes.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchon import distributions
from torchon.env import Environment, get_env, set_env
from torchon.plugins import PluginManager, get_manager, set_manager

if TYPE_CHECKING:
    from torchon._component import Context
    from torchon.config import Config

__all__ = [
    "STATE_VERSION",
    "RunInfo",
    "TrialInfo",
    "capture",
    "restore",
    "run_finished",
    "run_started",
    "running",
    "trial_finished",
    "trial_reported",
    "trial_started",
]

STATE_VERSION = 1

logger = logging.getLogger("torchon.run")


def capture(*, with_distributions: bool = False) -> dict[str, Any]:
    """This process's session as JSON data, for a process it starts to :func:`restore`.

    ``with_distributions``: also what this process read of the installed distributions (about 90 ms to read
    again); only for processes on the same machine and Python environment.
    """
    manager = get_manager()
    state: dict[str, Any] = {
        "version": STATE_VERSION,
        "plugins": [
            [name, info.module, info.distribution, info.version]
            for name, info in manager.plugins.items()
            if info.loaded and not info.builtin
        ],
        "env": get_env().to_dict(),
        "sys_path": [p for p in sys.path if p],
    }
    if with_distributions:
        state["distributions"] = distributions.module_distributions()
    return state


def restore(state: Mapping[str, Any], **env: Any) -> None:
    """Make this process's session the one :func:`capture` described; ``env`` changes fields of its environment
    (``hosts``, ``extra``, ``output_dir``).

    Plugins are imported from the modules the parent loaded them from, not looked up again by entry point; one
    that fails to import here is left out (a config needing it then names it).
    """
    if state.get("version", STATE_VERSION) > STATE_VERSION:
        raise ValueError(f"session state version {state['version']} is newer than this torchon reads")
    sys.path[:0] = [p for p in state.get("sys_path", ()) if p not in sys.path]
    importlib.invalidate_caches()
    if state.get("distributions") is not None:
        distributions.remember(state["distributions"])
    set_env(Environment.from_dict(state.get("env") or {}).replace(**env))
    manager = PluginManager()
    manager.load_builtins()
    for name, module, *owner in state.get("plugins", ()):
        if name in manager.plugins:
            continue
        distribution, version = [*owner, "(local)", ""][:2]
        try:
            plugin = importlib.import_module(module.partition(":")[0])
        except Exception:  # the parent loaded it; a process that cannot is told when a config needs it
            continue
        manager.register(plugin, name, distribution=distribution, version=version)
    set_manager(manager)


@contextmanager
def running(objs: Sequence[Any], context: Context) -> Iterator[None]:
    """Set up ``objs`` in order, run the block, tear down in reverse every object that was set up.

    A setup that fails stops there (the ones before it are torn down). A teardown that fails is logged with its
    traceback and the others still run; the block's own exception, if any, is the one that propagates.
    """
    ready: list[Any] = []
    try:
        for obj in objs:
            obj.setup(context)
            ready.append(obj)
        yield
    finally:
        for obj in reversed(ready):
            try:
                obj.teardown()
            except Exception:
                logger.exception("teardown of %s failed", type(obj).__name__)


# -- lifecycle: telling plugins what a run does -----------------------------------------------------------------


@dataclass
class RunInfo:
    """A run, as the lifecycle hooks see it (``torchon_run_started``, ``torchon_run_finished``).

    :ivar folder: the run's output folder.
    :ivar config: the config as run (its tree, file name, text); None for a run not started from a config.
    :ivar runnable: the top object, built.
    :ivar record: what ``run.json`` holds: ``status`` is ``running`` until the run ends, then ``succeeded``,
        ``failed`` or ``interrupted``, with ``exit_code`` (and ``error``).
    """

    folder: Path
    config: Config | None
    runnable: Any
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.record.get("status", "running"))


@dataclass
class TrialInfo:
    """A trial of a search, or a variant of an experiment's stage, as the trial hooks see it.

    :ivar number: the trial's number in its run (unique across the run's stages).
    :ivar key: the hash naming the trial's variant (its folder's name).
    :ivar params: the values chosen for the search space, by name (as the results table names them).
    :ivar folder: the trial's folder.
    :ivar stage: the experiment's stage it belongs to; None for a trial of a ``!Search``.
    :ivar metric: the metric the search ranks trials by (None: none), and ``mode``, ``min`` or ``max``.
    :ivar status: ``running``, then ``completed``, ``pruned`` or ``failed``.
    :ivar value: its value of ``metric`` once finished; ``metrics`` its last value of each metric, ``steps`` how
        many steps it ran, ``error`` why it failed, ``cached`` whether it was kept from an earlier run.
    """

    number: int
    key: str
    params: Mapping[str, Any]
    folder: Path
    stage: str | None = None
    metric: str | None = None
    mode: str = "min"
    status: str = "running"
    value: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    steps: int = 0
    error: str | None = None
    cached: bool = False


def _notify(hook: str, **kwargs: Any) -> None:
    """Call every plugin's ``hook``, each on its own (:meth:`PluginManager.notify`)."""
    get_manager().notify(hook, **kwargs)


def run_started(run: RunInfo) -> None:
    """Tell plugins a run started (``torchon_run_started``)."""
    _notify("torchon_run_started", run=run)


def run_finished(run: RunInfo) -> None:
    """Tell plugins a run ended and its folder is complete (``torchon_run_finished``)."""
    _notify("torchon_run_finished", run=run)


def trial_started(trial: TrialInfo) -> None:
    """Tell plugins a trial started (``torchon_trial_started``)."""
    _notify("torchon_trial_started", trial=trial)


def trial_reported(trial: TrialInfo, step: int, metrics: Mapping[str, float]) -> None:
    """Tell plugins a trial reported ``metrics`` for ``step`` (``torchon_trial_reported``)."""
    _notify("torchon_trial_reported", trial=trial, step=step, metrics=metrics)


def trial_finished(trial: TrialInfo) -> None:
    """Tell plugins a trial ended (``torchon_trial_finished``)."""
    _notify("torchon_trial_finished", trial=trial)
