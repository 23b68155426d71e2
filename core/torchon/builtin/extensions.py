"""Built-in extension resolver: local paths. Git URLs and PyPI requirements come with torchon-extensions."""

from __future__ import annotations

from torchon.hookspecs import hookimpl
from torchon.registry import ResolverRegistry


@hookimpl
def torchon_register_resolvers(resolvers: ResolverRegistry) -> None:
    resolvers.add(
        "local", "torchon.extensions.local:LocalResolver", help="a folder or .py file on this machine"
    )
