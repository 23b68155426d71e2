"""Extensions named in a config header: classifying specs and making local ones importable.

A header line ``my_ext: SPEC`` declares that module ``my_ext`` provides classes the config uses as
``!my_ext.Name``. The spec is a local path, a git URL or a PyPI requirement; each kind is handled by a resolver
registered through ``torchon_register_resolvers`` (the kernel registers all three). ``KIND+SPEC`` picks a
resolver explicitly.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchon.config.errors import Mark

__all__ = [
    "ExtensionError",
    "ExtensionResolver",
    "ExtensionSpec",
    "GitResolver",
    "LocalResolver",
    "PypiResolver",
    "ResolvedExtension",
    "classify_spec",
    "module_names_in",
]

_KIND_PREFIX = re.compile(r"^([a-z][a-z0-9_]*)\+(.+)$")
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*$")


class ExtensionError(Exception):
    """An extension cannot be made available; ``fix`` says how to make it so."""

    def __init__(self, what: str, *, fix: str) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix


@dataclass(frozen=True)
class ExtensionSpec:
    """One header line."""

    name: str
    spec: str
    kind: str
    target: str  # the spec without a ``KIND+`` prefix
    base_dir: Path = field(default_factory=Path.cwd)
    mark: Mark | None = None


@dataclass(frozen=True)
class ResolvedExtension:
    """What a spec resolved to, as recorded in the run's lock."""

    name: str
    kind: str
    spec: str
    path: str | None = None
    version: str | None = None
    commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def classify_spec(spec: str) -> tuple[str, str]:
    """(kind, target) of a spec: ``local``, ``git``, ``pypi``, or the kind of an explicit ``KIND+`` prefix."""
    spec = spec.strip()
    m = _KIND_PREFIX.match(spec)
    if m and not spec.startswith(("http+", "https+")):
        return m.group(1), m.group(2)
    if spec.startswith(("./", "../", "/", "~", ".\\", "..\\")) or spec in (".", ".."):
        return "local", spec
    if "://" in spec or spec.startswith("git@") or spec.endswith(".git"):
        return "git", spec
    if os.sep in spec or "/" in spec:
        return "local", spec
    return "pypi", spec


def module_names_in(folder: Path) -> list[str]:
    """Top-level modules a folder provides (packages and ``.py`` files), also under ``src/``."""
    names: set[str] = set()
    for base in (folder, folder / "src"):
        if not base.is_dir():
            continue
        for child in base.iterdir():
            if child.is_dir() and (child / "__init__.py").is_file() and _MODULE_NAME.match(child.name):
                names.add(child.name)
            elif (
                child.suffix == ".py"
                and _MODULE_NAME.match(child.stem)
                and child.stem not in ("setup", "conftest")
            ):
                names.add(child.stem)
    return sorted(names)


class ExtensionResolver(ABC):
    """Makes one kind of extension importable. ``install`` is whether the user allowed installing."""

    def __init__(self, *, install: bool = False) -> None:
        self.install = install

    @abstractmethod
    def resolve(self, ext: ExtensionSpec) -> ResolvedExtension:
        """Make ``ext.name`` importable and say what it resolved to; raise :class:`ExtensionError` if not."""


def _already_imported_elsewhere(name: str, location: Path) -> str | None:
    module = sys.modules.get(name)
    if module is None:
        return None
    file = getattr(module, "__file__", None)
    if file is None:
        return None
    try:
        Path(file).resolve().relative_to(location.resolve())
        return None
    except ValueError:
        return file


class LocalResolver(ExtensionResolver):
    """A folder or file on this machine, put on the import path for this run."""

    def resolve(self, ext: ExtensionSpec) -> ResolvedExtension:
        path = (ext.base_dir / os.path.expanduser(ext.target)).resolve()
        if not path.exists():
            raise ExtensionError(
                f"extension {ext.name!r}: path {ext.target!r} does not exist (looked at {path})",
                fix="give a path relative to the config file's folder, or an absolute path",
            )
        if path.is_file():
            if path.suffix != ".py":
                raise ExtensionError(
                    f"extension {ext.name!r}: {ext.target!r} is a file but not a Python module",
                    fix="point at a .py file, a package folder, or a folder holding the package",
                )
            self._load_from_file(ext.name, path, None)
        elif (path / "__init__.py").is_file():
            self._load_from_file(ext.name, path / "__init__.py", [str(path)])
        else:
            root = next(
                (
                    base
                    for base in (path, path / "src")
                    if (base / ext.name / "__init__.py").is_file() or (base / f"{ext.name}.py").is_file()
                ),
                None,
            )
            if root is None:
                provided = module_names_in(path)
                listing = ", ".join(provided) if provided else "no Python modules"
                raise ExtensionError(
                    f"extension {ext.name!r}: {ext.target!r} has no module named {ext.name!r} (it provides {listing})",
                    fix="the header key must be the top-level module the extension provides"
                    + (f"; write `{provided[0]}: {ext.spec}`" if len(provided) == 1 else ""),
                )
            other = _already_imported_elsewhere(ext.name, root)
            if other:
                raise ExtensionError(
                    f"extension {ext.name!r}: a different module {ext.name!r} is already imported from {other}",
                    fix="rename the extension's package, or uninstall the other one",
                )
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            importlib.invalidate_caches()
            self._import(ext)
        return ResolvedExtension(ext.name, "local", ext.spec, path=str(path))

    def _load_from_file(self, name: str, file: Path, search: list[str] | None) -> None:
        other = _already_imported_elsewhere(name, file.parent)
        if other:
            raise ExtensionError(
                f"extension {name!r}: a different module {name!r} is already imported from {other}",
                fix="rename the extension's module, or uninstall the other one",
            )
        if name in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(name, file, submodule_search_locations=search)
        if spec is None or spec.loader is None:
            raise ExtensionError(
                f"extension {name!r}: cannot load {file}", fix="check the file is a Python module"
            )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ExtensionError(
                f"extension {name!r} failed to import: {type(exc).__name__}: {exc}",
                fix="fix the error in the extension's code (run with --debug for the traceback)",
            ) from exc

    @staticmethod
    def _import(ext: ExtensionSpec) -> None:
        try:
            importlib.import_module(ext.name)
        except Exception as exc:
            raise ExtensionError(
                f"extension {ext.name!r} failed to import: {type(exc).__name__}: {exc}",
                fix="fix the error in the extension's code (run with --debug for the traceback)",
            ) from exc


def _install_fix(requirement: str) -> str:
    return (
        f"it needs installing: pip install '{requirement}' (torchon run does not install header extensions "
        "from git or PyPI yet; --install-extensions will)"
    )


def _installed(name: str) -> tuple[str, str] | None:
    """(distribution, version) providing top-level module ``name``, if it is importable."""
    from importlib.metadata import packages_distributions, version

    if importlib.util.find_spec(name) is None:
        return None
    dists = packages_distributions().get(name, [])
    if not dists:
        return ("(unknown)", "")
    return dists[0], version(dists[0])


def _top_level_modules(dist_name: str) -> list[str]:
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    wanted = canonicalize_name(dist_name)
    return sorted(
        module
        for module, dists in packages_distributions().items()
        if any(canonicalize_name(d) == wanted for d in dists) and not module.startswith("_")
    )


class PypiResolver(ExtensionResolver):
    """A requirement spec (``pkg==1.0``): used when installed and satisfying the spec."""

    def resolve(self, ext: ExtensionSpec) -> ResolvedExtension:
        from importlib.metadata import PackageNotFoundError, distribution

        from packaging.requirements import InvalidRequirement, Requirement

        try:
            req = Requirement(ext.target)
        except InvalidRequirement as exc:
            raise ExtensionError(
                f"extension {ext.name!r}: {ext.spec!r} is neither a path, a git URL nor a valid requirement ({exc})",
                fix="write a local path starting with ./ or /, a git URL, or a requirement such as pkg==1.0",
            ) from None
        install_fix = _install_fix(ext.target)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            raise ExtensionError(
                f"extension {ext.name!r} ({ext.target!r} from PyPI) is not installed", fix=install_fix
            ) from None
        if not req.specifier.contains(dist.version, prereleases=True):
            raise ExtensionError(
                f"extension {ext.name!r}: installed {req.name} {dist.version} does not satisfy {ext.target!r}",
                fix=install_fix,
            )
        modules = _top_level_modules(req.name)
        if ext.name not in modules:
            raise ExtensionError(
                f"extension {ext.name!r}: package {req.name} provides "
                f"{'modules ' + ', '.join(modules) if modules else 'no importable modules'}, not {ext.name!r}",
                fix="the header key must be the top-level module the package provides"
                + (f"; write `{modules[0]}: {ext.spec}`" if len(modules) == 1 else ""),
            )
        return ResolvedExtension(ext.name, "pypi", ext.spec, version=dist.version)


class GitResolver(ExtensionResolver):
    """A git repository: used when the module is already installed."""

    def resolve(self, ext: ExtensionSpec) -> ResolvedExtension:
        found = _installed(ext.name)
        if found is not None:
            return ResolvedExtension(ext.name, "git", ext.spec, version=found[1] or None)
        raise ExtensionError(
            f"extension {ext.name!r} ({ext.target!r} from git) is not installed",
            fix=_install_fix(f"git+{ext.target}"),
        )
