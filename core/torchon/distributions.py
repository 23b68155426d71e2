"""Which installed distribution provides a module: what bundles, locks and extensions record.

``importlib.metadata.packages_distributions()`` reads every installed distribution's file list (~90 ms here), and a
version ~1 ms, so both are kept until :func:`forget_distributions` is called, which installing an extension does.
"""

from __future__ import annotations

__all__ = ["distribution_of", "forget_distributions", "installed_version", "module_distributions", "remember"]

_mapping: dict[str, list[str]] | None = None
_versions: dict[str, str | None] = {}  # distribution -> version (None: not installed)


def module_distributions() -> dict[str, list[str]]:
    """Top-level module -> the distributions providing it."""
    global _mapping
    if _mapping is None:
        from importlib.metadata import packages_distributions

        _mapping = dict(packages_distributions())
    return _mapping


def remember(mapping: dict[str, list[str]]) -> None:
    """Take what :func:`module_distributions` returned in a process with the same installed distributions (the
    driver of a search's workers) instead of reading every file list again."""
    global _mapping
    _mapping = {module: list(dists) for module, dists in mapping.items()}


def forget_distributions() -> None:
    """Read the installed distributions again next time (after pip installed something)."""
    global _mapping
    _mapping = None
    _versions.clear()


def distribution_of(module: str) -> tuple[str, str] | None:
    """(distribution, version) that installed the top-level package of ``module``, if any."""
    for dist in module_distributions().get(module.split(".")[0], []):
        if (found := installed_version(dist)) is not None:
            return dist, found
    return None


def installed_version(dist: str) -> str | None:
    """The installed version of ``dist``, or None: the one place torchon asks (bundles, locks, ``inspect``)."""
    if dist not in _versions:
        from importlib.metadata import PackageNotFoundError, version

        try:
            _versions[dist] = version(dist)
        except PackageNotFoundError:
            _versions[dist] = None
    return _versions[dist]
