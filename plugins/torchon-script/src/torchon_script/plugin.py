"""Entry module of the torchon-script plugin: names only, nothing imported until a config uses ``!Script``."""

from __future__ import annotations

from torchon.api import TagRegistry, hookimpl


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    tags.add("Script", "torchon_script.script:Script", help="run a Python script or module unchanged")
