"""Entry module of the torchon-ray plugin: names only; Ray is imported when a run or a command uses it."""

from __future__ import annotations

from torchon.api import CommandRegistry, ExecutorRegistry, hookimpl


@hookimpl
def torchon_register_executors(executors: ExecutorRegistry) -> None:
    executors.add(
        "ray", "torchon_ray.executor:RayExecutor", help="trials on a Ray cluster (RAY_ADDRESS or local)"
    )


@hookimpl
def torchon_register_commands(commands: CommandRegistry) -> None:
    commands.add(
        "submit", "torchon_ray.submit_cmd:SubmitCommand", help="run a config on a Ray cluster (Ray Jobs API)"
    )
