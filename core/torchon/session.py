"""The torchon session of a process: what is in force, how another process gets the same, and how a run's objects
are set up and torn down.

A process's session is its plugin manager (:mod:`torchon.plugins`), its environment (:mod:`torchon.env`), the
entries torchon put on ``sys.path`` (local extensions) and what it learned of the installed distributions
(:mod:`torchon.distributions`). Every process torchon starts — data-parallel workers, trial workers, Ray actors —
starts from :func:`capture` of its parent and calls :func:`restore`, so they all agree on what a config's tags
mean. :func:`running` is the one setup → work → teardown sequence: setup in order, teardown in reverse for every
object that was set up, a failing teardown logged and never hiding the work's own error.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from torchon import distributions
from torchon.env import Environment, get_env, set_env
from torchon.plugins import PluginManager, get_manager, set_manager

if TYPE_CHECKING:
    from torchon._component import Context

__all__ = ["STATE_VERSION", "capture", "restore", "running"]

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
