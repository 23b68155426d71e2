"""Built-in extension resolvers: local paths, git URLs, PyPI requirements."""

from __future__ import annotations

from torchon.hookspecs import hookimpl
from torchon.registry import ResolverRegistry


@hookimpl
def torchon_register_resolvers(resolvers: ResolverRegistry) -> None:
    resolvers.add("local", "torchon.extensions:LocalResolver", help="a folder or .py file on this machine")
    resolvers.add("git", "torchon.extensions:GitResolver", help="a git repository URL")
    resolvers.add("pypi", "torchon.extensions:PypiResolver", help="a PyPI requirement such as pkg==1.0")
