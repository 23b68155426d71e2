"""Extensions named in a config header (``my_ext: SPEC``, for ``!my_ext.Name``): what a spec is, what it resolved
to, and the resolver interface. Each kind of spec (:func:`classify_spec`) is made importable by the resolver
registered for it: ``local`` by the kernel (:mod:`.local`), ``git``, ``pypi`` and ``editable`` (a local project,
installed) by the torchon-extensions plugin, which builds on the cheap, shared types and helpers here.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchon.config.errors import Mark
from torchon.errors import UserError

__all__ = [
    "ExtensionError",
    "ExtensionResolver",
    "ExtensionSpec",
    "ResolvedExtension",
    "classify_spec",
    "has_project_file",
    "import_extension",
    "key_mismatch",
    "module_names_in",
]

_KIND_PREFIX = re.compile(r"^([a-z][a-z0-9_]*)\+(.+)$")
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*$")
# A path spec ending in ``.git`` (optionally ``@ref`` / ``#subdirectory=...`` after it) names a repository.
_GIT_PATH = re.compile(r"\.git/?(@[^/#]+(/[^/#]+)*)?(#.*)?$")


class ExtensionError(UserError):
    """An extension cannot be made available; ``fix`` says how to make it so."""

    def __init__(self, what: str, *, fix: str) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix


@dataclass(frozen=True)
class ExtensionSpec:
    """One header line; ``locked``: the lock file's entry it must be installed exactly as (``--locked``)."""

    name: str
    spec: str
    kind: str
    target: str  # the spec without a ``KIND+`` prefix
    base_dir: Path = field(default_factory=Path.cwd)
    mark: Mark | None = None
    locked: Mapping[str, Any] | None = None

    def with_lock(self, entry: Mapping[str, Any] | None) -> ExtensionSpec:
        return dataclasses.replace(self, locked=entry)

    def local_path(self) -> Path:
        """Where a local spec points: ``target`` relative to the config's folder, ``~`` expanded."""
        return (self.base_dir / os.path.expanduser(self.target)).resolve()


@dataclass(frozen=True)
class ResolvedExtension:
    """What a spec resolved to, as recorded in the run's lock: where it is imported from, the git commit (and
    whether the work tree was ``dirty``), the installed distribution, a git spec taken apart."""

    name: str
    kind: str
    spec: str
    path: str | None = None
    version: str | None = None
    commit: str | None = None
    distribution: str | None = None
    url: str | None = None
    ref: str | None = None
    subdirectory: str | None = None
    dirty: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def classify_spec(spec: str) -> tuple[str, str]:
    """(kind, target) of a spec: ``local``, ``git``, ``pypi``, or the kind of an explicit ``KIND+`` prefix."""
    spec = spec.strip()
    m = _KIND_PREFIX.match(spec)
    if m and not spec.startswith(("http+", "https+")):
        return m.group(1), m.group(2)
    if spec.startswith(("./", "../", "/", "~", ".\\", "..\\")) or spec in (".", ".."):
        return ("git" if _GIT_PATH.search(spec) else "local"), spec
    if "://" in spec or spec.startswith("git@") or spec.endswith(".git") or _GIT_PATH.search(spec):
        return "git", spec
    if os.sep in spec or "/" in spec:
        return "local", spec
    return "pypi", spec


def module_names_in(folder: Path) -> list[str]:
    """Top-level modules a folder provides (packages and ``.py`` files), also under ``src/``."""
    names: set[str] = set()
    for child in (*folder.glob("*"), *folder.glob("src/*")):
        if child.is_dir() and (child / "__init__.py").is_file():
            names.add(child.name)
        elif child.suffix == ".py" and child.stem not in ("setup", "conftest", "noxfile"):
            names.add(child.stem)
    return sorted(n for n in names if _MODULE_NAME.match(n))


def has_project_file(folder: Path) -> bool:
    """Whether ``folder`` is a pip-installable project (``pyproject.toml`` or ``setup.py``)."""
    return (folder / "pyproject.toml").is_file() or (folder / "setup.py").is_file()


def key_mismatch(name: str, spec: str, what: str, provided: list[str]) -> ExtensionError:
    """The error for a header key that is not the module the extension provides."""
    listing = ("modules " + ", ".join(provided)) if provided else "no importable modules"
    return ExtensionError(
        f"extension {name!r}: {what} provides {listing}, not {name!r}",
        fix="the header key must be the top-level module the extension provides"
        + (f"; write `{provided[0]}: {spec}`" if len(provided) == 1 else ""),
    )


def import_extension(name: str) -> None:
    """Import an extension's module, turning its failure into an :class:`ExtensionError`."""
    try:
        importlib.import_module(name)
    except Exception as exc:
        raise ExtensionError(
            f"extension {name!r} failed to import: {type(exc).__name__}: {exc}",
            fix="fix the error in the extension's code (run with --debug for the traceback)",
        ) from exc


class ExtensionResolver(ABC):
    """Makes one kind of extension importable. ``install`` is whether the user allowed installing."""

    def __init__(self, *, install: bool = False) -> None:
        self.install = install

    @abstractmethod
    def resolve(self, ext: ExtensionSpec) -> ResolvedExtension:
        """Make ``ext.name`` importable (exactly as ``ext.locked`` records, when set) and say what it resolved
        to; raise :class:`ExtensionError` if it cannot."""
