"""Built-in subcommands."""

from __future__ import annotations

from torchon.hookspecs import hookimpl
from torchon.registry import CommandRegistry


@hookimpl
def torchon_register_commands(commands: CommandRegistry) -> None:
    commands.add("run", "torchon.cli.run:RunCommand", help="build a config's runnable and run it")
    commands.add(
        "plugins",
        "torchon.cli.plugins_cmd:PluginsCommand",
        help="list plugins, what they register, and failures",
    )
