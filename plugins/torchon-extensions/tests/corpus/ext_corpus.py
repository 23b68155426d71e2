"""A plugin for torchon-extensions' tests: a runnable to put at the top of configs whose header is under test, and
a component to save as a bundle."""

from __future__ import annotations

from torchon.api import Component, Runnable, TagRegistry, hookimpl


class Job(Runnable):
    def run(self) -> None:
        pass


class Box(Component):
    def __init__(self, value: object = None) -> None:
        self.value = value


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    tags.add("Job", "ext_corpus:Job", help="does nothing")
    tags.add("Box", "ext_corpus:Box", help="holds a value")
