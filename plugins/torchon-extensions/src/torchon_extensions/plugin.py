"""Entry module of the torchon-extensions plugin: names only; GitPython, pip and cookiecutter are imported when a
header names a git or PyPI extension or a local project to install, or when ``torchon new`` runs."""

from __future__ import annotations

from torchon.api import CommandRegistry, ResolverRegistry, hookimpl


@hookimpl
def torchon_register_resolvers(resolvers: ResolverRegistry) -> None:
    resolvers.add(
        "git", "torchon_extensions.git:GitResolver", help="a git repository, cloned into torchon's cache"
    )
    resolvers.add(
        "pypi",
        "torchon_extensions.pypi:PypiResolver",
        help="a PyPI requirement such as pkg==1.0, installed with pip",
    )
    # The kernel picks this kind for a local project folder when installing is allowed (--install-extensions).
    resolvers.add(
        "editable",
        "torchon_extensions.editable:EditableResolver",
        help="a local project folder, installed editable with pip",
    )


@hookimpl
def torchon_register_commands(commands: CommandRegistry) -> None:
    commands.add(
        "new",
        "torchon_extensions.new:NewCommand",
        help="bake a new extension package from torchon's template",
    )
