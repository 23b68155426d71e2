"""Entry module of the torchon-ray plugin: names only; Ray is imported when a run or a command uses it.

``torchon_register_executors`` is torchon-search's hook: without torchon-search loaded (``-p ray``,
``TORCHON_DENY_PLUGINS=search``) there is nothing to run trials, so the hook is optional (pluggy's
``optionalhook``) and the plugin still gives ``torchon submit``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchon.api import CommandRegistry, hookimpl

if TYPE_CHECKING:
    from torchon_search.hookspecs import ExecutorRegistry


@hookimpl(optionalhook=True)
def torchon_register_executors(executors: ExecutorRegistry) -> None:
    executors.add(
        "ray", "torchon_ray.executor:RayExecutor", help="trials on a Ray cluster (RAY_ADDRESS or local)"
    )


@hookimpl
def torchon_register_commands(commands: CommandRegistry) -> None:
    commands.add(
        "submit", "torchon_ray.submit_cmd:SubmitCommand", help="run a config on a Ray cluster (Ray Jobs API)"
    )
