"""The torchon session of a process: what is in force, how each process torchon starts gets the same (its
parent's :func:`capture`, then :func:`restore`: all agree on what a config's tags mean), how a run's
objects are set up and torn down, and what plugins are told of a run (the lifecycle hooks)."""

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
    "capture",
    "restore",
    "run_finished",
    "run_started",
    "running",
]

STATE_VERSION = 1

logger = logging.getLogger("torchon.run")


def capture(*, with_distributions: bool = False) -> dict[str, Any]:
    """This process's session (plugins, environment, ``sys.path``) as JSON data, for a process it starts to
    :func:`restore`. ``with_distributions``: also what it read of the installed distributions (about 90 ms to
    read again), for processes on the same machine and Python environment only."""
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
    """Make this process's session the one :func:`capture` described; ``env`` changes fields of its
    environment. Plugins are imported from the modules the parent loaded them from, not found again by entry
    point."""
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
    """Set up ``objs`` in order, run the block, tear down in reverse every object that was set up. A failing
    teardown is logged and the others still run: it never hides the block's own exception."""
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


@dataclass
class RunInfo:
    """A run, as the lifecycle hooks see it (``torchon_run_started``, ``torchon_run_finished``)."""

    folder: Path  # the run's output folder
    config: Config | None  # the config as run; None for a run not started from a config
    runnable: Any  # the top object, built
    # what run.json holds: status running until the run ends, then succeeded, failed or interrupted, with
    # exit_code (and error)
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.record.get("status", "running"))


# Telling plugins what a run does. A plugin whose hook raises is logged and the others are still called
# (PluginManager.notify): what a plugin does with a run (track it in MLflow) never changes how the run goes.


def run_started(run: RunInfo) -> None:
    get_manager().notify("torchon_run_started", run=run)


def run_finished(run: RunInfo) -> None:
    get_manager().notify("torchon_run_finished", run=run)
