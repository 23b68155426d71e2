"""Which installed distribution provides a module: what bundles, locks and extensions record.

``importlib.metadata.packages_distributions()`` reads every installed distribution's file list (~90 ms here), so
the mapping is kept until :func:`forget` is called, which installing an extension does.
"""

from __future__ import annotations

__all__ = ["distribution_of", "forget", "module_distributions"]

_mapping: dict[str, list[str]] | None = None


def module_distributions() -> dict[str, list[str]]:
    """Top-level module -> the distributions providing it."""
    global _mapping
    if _mapping is None:
        from importlib.metadata import packages_distributions

        _mapping = dict(packages_distributions())
    return _mapping


def forget() -> None:
    """Read the installed distributions again next time (after pip installed something)."""
    global _mapping
    _mapping = None


def distribution_of(module: str) -> tuple[str, str] | None:
    """(distribution, version) that installed the top-level package of ``module``, if any."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in module_distributions().get(module.split(".")[0], []):
        try:
            return dist, version(dist)
        except PackageNotFoundError:
            continue
    return None
