"""Local project folders installed editable (``pip install --editable``), so a project's dependencies and entry
points (a plugin it carries) come with it.

The kernel puts a local folder on the import path; with ``--install-extensions`` (or ``install: true``) it hands a
``local`` spec whose folder is a project (``pyproject.toml`` / ``setup.py``) to this resolver instead. What it
records is the same ``local`` extension, plus the distribution pip installed, so locks and bundles read alike.
"""

from __future__ import annotations

from typing import Any

from torchon.api import (
    ExtensionError,
    ExtensionResolver,
    ExtensionSpec,
    ResolvedExtension,
    git_source,
    has_project_file,
    import_extension,
)
from torchon_extensions.pip import install_folder

__all__ = ["EditableResolver"]


class EditableResolver(ExtensionResolver):
    """A local project folder, installed editable into the running environment (reinstalled only when the module
    is not already an editable install of that very folder)."""

    def resolve(self, ext: ExtensionSpec) -> ResolvedExtension:
        path = ext.local_path()
        if not has_project_file(path):  # reached only through an explicit ``editable+`` spec
            raise ExtensionError(
                f"extension {ext.name!r}: {ext.target!r} is not a project folder (no pyproject.toml or setup.py "
                f"in {path})",
                fix=f"point at a project folder, or write `{ext.name}: local+{ext.target}` to use it where it is",
            )
        if not self.install:
            raise ExtensionError(
                f"extension {ext.name!r}: installing {path} editable needs --install-extensions",
                fix="run with --install-extensions (or install: true in !Environment)",
            )
        current = install_folder(ext.name, ext.spec, path, f"{path} (editable)", editable=True)
        import_extension(ext.name)
        installed: dict[str, Any] = {"version": current.version, "distribution": current.name}
        return ResolvedExtension(ext.name, "local", ext.spec, path=str(path), **installed, **git_source(path))
