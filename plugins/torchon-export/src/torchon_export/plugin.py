"""Entry module of the torchon-export plugin: names only. FastAPI and uvicorn are imported when `serve` runs."""

from __future__ import annotations

from torchon.api import CommandRegistry, TagRegistry, hookimpl


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    tags.add(
        "Exporter", "torchon_export.exporter:Exporter", help="save a component as a bundle, local or remote"
    )
    tags.add("Builder", "torchon_export.exporter:Builder", help="the seeds' name for !Exporter")


@hookimpl
def torchon_register_commands(commands: CommandRegistry) -> None:
    commands.add(
        "serve", "torchon_export.serve_cmd:ServeCommand", help="serve a bundle's predict() over HTTP"
    )
    commands.add(
        "inspect", "torchon_export.inspect_cmd:InspectCommand", help="show what a bundle holds and verify it"
    )
