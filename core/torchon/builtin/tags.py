"""Built-in tags: ``!artifact``, a file or folder fetched to a local path and carried in bundles
(:mod:`torchon.bundle.artifacts`)."""

from __future__ import annotations

from torchon.hookspecs import hookimpl
from torchon.registry import TagRegistry


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    tags.add_value(
        "artifact",
        "torchon.bundle.artifacts:artifact",
        help="a file or folder (local, s3://...) fetched to a local path and carried in bundles",
    )
