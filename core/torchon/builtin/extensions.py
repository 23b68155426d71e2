"""Built-in extension resolvers: local paths, git URLs, PyPI requirements."""

from __future__ import annotations

from torchon.hookspecs import hookimpl
from torchon.registry import ResolverRegistry


@hookimpl
def torchon_register_resolvers(resolvers: ResolverRegistry) -> None:
    resolvers.add(
        "local", "torchon.extensions.local:LocalResolver", help="a folder or .py file on this machine"
    )
    resolvers.add(
        "git", "torchon.extensions.git:GitResolver", help="a git repository, cloned into torchon's cache"
    )
    resolvers.add(
        "pypi",
        "torchon.extensions.pypi:PypiResolver",
        help="a PyPI requirement such as pkg==1.0, installed with pip",
    )
