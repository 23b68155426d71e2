"""Built-in subcommands."""

from __future__ import annotations

from torchon.hookspecs import hookimpl
from torchon.registry import CommandRegistry


@hookimpl
def torchon_register_commands(commands: CommandRegistry) -> None:
    commands.add("run", "torchon.cli.run:RunCommand", help="build a config's runnable and run it")
    commands.add(
        "inspect", "torchon.cli.inspect_cmd:InspectCommand", help="show what a bundle holds and verify it"
    )
    commands.add(
        "plugins",
        "torchon.cli.plugins_cmd:PluginsCommand",
        help="list plugins, what they register, and failures",
    )
    commands.add("runs", "torchon.cli.runs_cmd:RunsCommand", help="list runs: status, duration, best result")
    commands.add(
        "compare",
        "torchon.cli.runs_cmd:CompareCommand",
        help="compare runs: best results, and config differences as overrides",
    )
