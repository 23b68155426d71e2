"""Local extensions: a ``.py`` file, a package folder, or a folder holding the package (directly or in ``src/``),
put on the import path for this run. (Installing a project folder editable is torchon-extensions' ``editable``.)"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

from torchon.extensions import (
    ExtensionError,
    ExtensionResolver,
    ExtensionSpec,
    ResolvedExtension,
    import_extension,
    module_names_in,
)

__all__ = ["LocalResolver", "git_source", "put_on_path"]


def _check_not_elsewhere(name: str, location: Path, what: str) -> None:
    """Refuse an extension whose module name is already imported from somewhere else."""
    file = getattr(sys.modules.get(name), "__file__", None)
    if file is not None and not Path(file).resolve().is_relative_to(location.resolve()):
        raise ExtensionError(
            f"extension {name!r}: a different module {name!r} is already imported from {file}",
            fix=f"rename the extension's {what}, or uninstall the other one",
        )


def _load_from_file(name: str, file: Path, search: list[str] | None) -> None:
    """Import ``file`` as module ``name`` (a header key need not be the file's name)."""
    _check_not_elsewhere(name, file.parent, "module")
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, file, submodule_search_locations=search)
    if spec is None or spec.loader is None:
        raise ExtensionError(
            f"extension {name!r}: cannot load {file}", fix="check the file is a Python module"
        )
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ExtensionError(
            f"extension {name!r} failed to import: {type(exc).__name__}: {exc}",
            fix="fix the error in the extension's code (run with --debug for the traceback)",
        ) from exc


def put_on_path(name: str, spec: str, path: Path, what: str) -> None:
    """Make module ``name`` importable from ``path``: a ``.py`` file, a package, or a folder holding it."""
    if path.is_file():
        if path.suffix != ".py":
            raise ExtensionError(
                f"extension {name!r}: {what} is a file but not a Python module",
                fix="point at a .py file, a package folder, or a folder holding the package",
            )
        return _load_from_file(name, path, None)
    if (path / "__init__.py").is_file():
        return _load_from_file(name, path / "__init__.py", [str(path)])
    for root in (path, path / "src"):
        if (root / name / "__init__.py").is_file() or (root / f"{name}.py").is_file():
            break
    else:
        provided = module_names_in(path)
        listing = ", ".join(provided) if provided else "no Python modules"
        raise ExtensionError(
            f"extension {name!r}: {what} has no module named {name!r} (it provides {listing})",
            fix="the header key must be the top-level module the extension provides"
            + (f"; write `{provided[0]}: {spec}`" if len(provided) == 1 else ""),
        )
    _check_not_elsewhere(name, root, "package")
    if str(root) in sys.path:  # first, so it wins over another copy put on the path earlier in this process
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    import_extension(name)


@functools.lru_cache(maxsize=64)
def git_source(path: Path) -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool}`` for a file or folder inside a git work tree (``{}`` outside one), so
    locks and bundles say which code they came from; cached, so git runs once per extension, not per checkpoint."""
    folder, pathspec = (path, ".") if path.is_dir() else (path.parent, path.name)

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "--verify", "HEAD")
    if head is None or head.returncode != 0:
        return {}
    status = git("status", "--porcelain", "--", pathspec)
    source: dict[str, Any] = {"commit": head.stdout.strip()}
    if status is not None and status.returncode == 0:
        source["dirty"] = bool(status.stdout.strip())
    return source


class LocalResolver(ExtensionResolver):
    """A folder or file on this machine, put on the import path."""

    def resolve(self, ext: ExtensionSpec) -> ResolvedExtension:
        path = ext.local_path()
        if not path.exists():
            raise ExtensionError(
                f"extension {ext.name!r}: path {ext.target!r} does not exist (looked at {path})",
                fix="give a path relative to the config file's folder, or an absolute path",
            )
        put_on_path(ext.name, ext.spec, path, repr(ext.target))
        return ResolvedExtension(ext.name, "local", ext.spec, path=str(path), **git_source(path))
