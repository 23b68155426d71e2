"""Entry module of the torchon-history plugin: names only, nothing imported until a command runs."""

from __future__ import annotations

from torchon.api import CommandRegistry, hookimpl


@hookimpl
def torchon_register_commands(commands: CommandRegistry) -> None:
    commands.add(
        "runs", "torchon_history.commands:RunsCommand", help="list runs: status, duration, best result"
    )
    commands.add(
        "compare",
        "torchon_history.commands:CompareCommand",
        help="compare runs: best results, and config differences as overrides",
    )
