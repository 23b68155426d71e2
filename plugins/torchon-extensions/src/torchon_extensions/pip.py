"""Installing with ``python -m pip install`` into the running environment (so pip's own configuration applies),
and reading back what pip installed: a distribution by name, the one providing a module, the one installed from a
folder (pip's PEP 610 record of where it came from, ``direct_url.json``), a distribution's modules.
Used by the git, PyPI and editable resolvers.
"""

from __future__ import annotations

import importlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from torchon.api import (
    ExtensionError,
    forget_distributions,
    key_mismatch,
    module_distributions,
    module_names_in,
)

__all__ = [
    "Installed",
    "dist_modules",
    "install_folder",
    "installed_for_module",
    "installed_from",
    "installed_version",
    "pip_install",
]

logger = logging.getLogger("torchon.extensions")


@dataclass(frozen=True)
class Installed:
    """An installed distribution: its name and version, and where pip installed it from (PEP 610), if known."""

    name: str
    version: str
    direct_url: dict[str, Any] | None

    @property
    def source_dir(self) -> Path | None:
        """The local folder it was installed from (``pip install FOLDER`` or ``-e FOLDER``), if any."""
        if not self.direct_url or "dir_info" not in self.direct_url:
            return None
        url = urlparse(str(self.direct_url.get("url", "")))
        return Path(unquote(url.path)) if url.scheme == "file" else None

    @property
    def editable(self) -> bool:
        return bool(self.direct_url and self.direct_url.get("dir_info", {}).get("editable"))

    @classmethod
    def of(cls, dist: Any) -> Installed:
        """What an ``importlib.metadata.Distribution`` says of itself."""
        raw = dist.read_text("direct_url.json")
        try:
            direct = json.loads(raw) if raw else None
        except ValueError:
            direct = None
        return cls(dist.metadata["Name"], dist.version, direct if isinstance(direct, dict) else None)


def installed_version(name: str) -> Installed | None:
    """The installed distribution called ``name`` (any spelling), or None."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        return Installed.of(distribution(name))
    except PackageNotFoundError:
        return None


def installed_for_module(module: str) -> Installed | None:
    """The installed distribution that provides top-level module ``module``, or None."""
    from importlib.metadata import PackageNotFoundError, distribution

    importlib.invalidate_caches()
    for name in module_distributions().get(module, []):
        try:
            return Installed.of(distribution(name))
        except PackageNotFoundError:
            continue
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


def _pip_errors(output: str) -> str:
    """The lines of pip's output that say what went wrong, without its advice boilerplate."""
    lines = [line.strip() for line in output.splitlines()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if not errors:
        errors = [line for line in lines if line][-3:]
    return "; ".join(e.removeprefix("ERROR: ").strip() for e in errors)[:1500]


def pip_install(args: list[str], *, what: str, name: str) -> None:
    """Run ``python -m pip install ARGS`` for extension ``name``; raise :class:`ExtensionError` if pip fails."""
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *args]
    before = _pth_files()
    print(f"torchon: installing extension {name!r}: {what}", file=sys.stderr, flush=True)
    logger.debug("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    logger.debug("pip said:\n%s%s", proc.stdout, proc.stderr)
    if proc.returncode != 0:
        raise ExtensionError(
            f"extension {name!r}: pip could not install {what}: {_pip_errors(proc.stderr + proc.stdout)}",
            fix="check the spec (name, version range, that the package exists where pip looks); pip's "
            "configuration (pip.conf, PIP_INDEX_URL, PIP_FIND_LINKS) decides where it looks",
        )
    _activate_new_pth_files(before)
    importlib.invalidate_caches()
    forget_distributions()  # what provides which module may have changed


def install_folder(name: str, spec: str, folder: Path, where: str, *, editable: bool = False) -> Installed:
    """Install ``folder`` for extension module ``name`` (``--editable`` when asked) unless ``name`` is already
    installed from it (editable, when asked), and say what provides it: the header key must be a module the
    folder provides, before and after pip runs (:func:`torchon.api.key_mismatch` otherwise)."""
    provided = module_names_in(folder)
    if provided and name not in provided:
        raise key_mismatch(name, spec, where, provided)
    folder = folder.resolve()
    current = installed_for_module(name)
    if not (current and current.source_dir == folder and (current.editable or not editable)):
        pip_install(["--editable", str(folder)] if editable else [str(folder)], what=where, name=name)
        current = installed_for_module(name)
    if current is None or current.source_dir != folder:
        installed = installed_from(folder)
        raise key_mismatch(name, spec, where, dist_modules(installed.name) if installed else [])
    return current


def _pth_files() -> dict[Path, float]:
    import site

    user = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []
    return {p: p.stat().st_mtime for d in [*site.getsitepackages(), *user] for p in Path(d).glob("*.pth")}


def _activate_new_pth_files(before: dict[Path, float]) -> None:
    """Process the ``.pth`` files pip just wrote, as Python does at startup: an editable install is one, and
    without this the package would be importable only from the next process on."""
    import site

    for path, mtime in _pth_files().items():
        if before.get(path) != mtime:
            site.addpackage(str(path.parent), path.name, None)
