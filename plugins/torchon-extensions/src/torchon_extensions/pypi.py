"""PyPI extensions: a requirement spec (``pkg==1.0``, ``pkg>=1,<2``) installed with ``python -m pip``.

An installed distribution that satisfies the spec is used as it is, so installing is safe to repeat and never
upgrades behind the user's back (Flambé ran ``pip install -U`` on every run). Without ``--install-extensions``
a missing or unsatisfying distribution is an error naming the flag; with a lock, exactly the locked version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchon.api import (
    ExtensionError,
    ExtensionResolver,
    ExtensionSpec,
    ResolvedExtension,
    import_extension,
    key_mismatch,
)
from torchon_extensions.pip import dist_modules, installed_version, pip_install

if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = ["PypiResolver"]


def _install_fix(requirement: str) -> str:
    return (
        f"run with --install-extensions to install it (or install it yourself: pip install '{requirement}')"
    )


def _requirement(ext: ExtensionSpec) -> Requirement:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(ext.target)
    except InvalidRequirement as exc:
        raise ExtensionError(
            f"extension {ext.name!r}: {ext.spec!r} is neither a path, a git URL nor a valid requirement ({exc})",
            fix="write a local path starting with ./ or /, a git URL, or a requirement such as pkg==1.0",
        ) from None


def _pinned(req: Requirement, version: str) -> str:
    """``req`` with its version range replaced by exactly ``version`` (extras and markers kept)."""
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    marker = f"; {req.marker}" if req.marker else ""
    return f"{req.name}{extras}=={version}{marker}"


class PypiResolver(ExtensionResolver):
    """A requirement spec: used when installed and satisfying it, installed with pip when allowed."""

    def resolve(self, ext: ExtensionSpec) -> ResolvedExtension:
        req = _requirement(ext)
        locked = (ext.locked or {}).get("version")
        wanted = str(req)
        if locked is not None:
            if not req.specifier.contains(locked, prereleases=True):
                raise ExtensionError(
                    f"extension {ext.name!r}: the lock says version {locked}, which {ext.target!r} does not allow",
                    fix="the config's spec changed since the lock was written; run without --locked to write a "
                    "new lock, or restore the spec",
                )
            wanted = _pinned(req, locked)

        current = installed_version(req.name)
        if not self._acceptable(current.version if current else None, req, locked):
            if not (self.install or locked is not None):
                if current is None:
                    what = f"extension {ext.name!r} ({ext.target!r} from PyPI) is not installed"
                else:
                    what = f"extension {ext.name!r}: installed {req.name} {current.version} does not satisfy {ext.target!r}"
                raise ExtensionError(what, fix=_install_fix(wanted))
            pip_install([wanted], what=repr(wanted), name=ext.name)
            current = installed_version(req.name)
            if current is None or not self._acceptable(current.version, req, locked):
                found = current.version if current else "nothing"
                raise ExtensionError(
                    f"extension {ext.name!r}: pip installed {found} for {wanted!r}",
                    fix="check the requirement and where pip looks (pip.conf, PIP_INDEX_URL, PIP_FIND_LINKS)",
                )
        assert current is not None
        modules = dist_modules(current.name)
        if ext.name not in modules:
            raise key_mismatch(ext.name, ext.spec, f"package {current.name}", modules)
        import_extension(ext.name)
        return ResolvedExtension(
            ext.name, "pypi", ext.spec, version=current.version, distribution=current.name
        )

    @staticmethod
    def _acceptable(version: str | None, req: Requirement, locked: str | None) -> bool:
        if version is None:
            return False
        if locked is not None:
            from packaging.version import Version

            return Version(version) == Version(locked)
        return req.specifier.contains(version, prereleases=True)
