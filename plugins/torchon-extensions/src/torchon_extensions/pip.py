"""Asking what pip installed: a distribution by name, the one installed from a folder, a distribution's modules.

Installing itself (``python -m pip install`` with the interpreter running torchon, so pip's own configuration
applies) is the kernel's ``torchon.api.pip_install``, which the local resolver uses too; what got installed is read
back from the distributions' metadata, including pip's record of where a distribution came from (PEP 610
``direct_url.json``, :class:`torchon.api.Installed`).
"""

from __future__ import annotations

from pathlib import Path

from torchon.api import Installed, module_distributions

__all__ = ["dist_modules", "installed_from", "installed_version"]


def installed_version(name: str) -> Installed | None:
    """The installed distribution called ``name`` (any spelling), or None."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        return Installed.of(distribution(name))
    except PackageNotFoundError:
        return None


def installed_from(folder: Path) -> Installed | None:
    """The installed distribution pip installed from local folder ``folder``, or None."""
    from importlib.metadata import distributions

    wanted = folder.resolve()
    for dist in distributions():
        installed = Installed.of(dist)
        if installed.source_dir == wanted:
            return installed
    return None


def dist_modules(dist_name: str) -> list[str]:
    """The top-level modules an installed distribution provides (private ones left out)."""
    from packaging.utils import canonicalize_name

    wanted = canonicalize_name(dist_name)
    return sorted(
        module
        for module, dists in module_distributions().items()
        if any(canonicalize_name(d) == wanted for d in dists)
        and not module.startswith("_")
        and module.isidentifier()
    )
