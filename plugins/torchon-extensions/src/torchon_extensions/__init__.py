"""torchon-extensions: extensions named in a config header from git repositories and PyPI, editable installs of
local projects, and ``torchon new``.

The resolvers (``git``, ``pypi``, ``editable``) and the command are registered by :mod:`torchon_extensions.plugin`;
their modules, and GitPython, pip and cookiecutter, are imported only when used.
"""

from __future__ import annotations

__all__ = ["EditableResolver", "GitResolver", "PypiResolver"]

_WHERE = {
    "EditableResolver": "torchon_extensions.editable",
    "GitResolver": "torchon_extensions.git",
    "PypiResolver": "torchon_extensions.pypi",
}


def __getattr__(name: str) -> object:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'torchon_extensions' has no attribute {name!r}")
