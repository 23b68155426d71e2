"""Git extensions: a repository cloned into torchon's cache, checked out at the resolved commit, then used.

With ``--install-extensions`` (or a lock), the repository is fetched into the cache
(:mod:`torchon_extensions.gitcache`), the ref resolved to a commit (or the lock's commit taken), and that
commit's files exported. The extension's folder (the repository's top, or its subfolder) is then

- ``pip install``-ed when it is a project (``pyproject.toml`` / ``setup.py``), so its dependencies and entry
  points come along; pip records where it came from, which is how later runs recognise it;
- put on the import path for the run when it is a plain package folder.

Without the flag nothing is fetched: an extension installed earlier from this repository is used (a branch
spec keeps the commit installed last; a tag or commit spec must match it), else the run stops with an error
naming the flag.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchon.api import (
    ExtensionError,
    ExtensionResolver,
    ExtensionSpec,
    ResolvedExtension,
    has_project_file,
    import_extension,
    key_mismatch,
    module_names_in,
    put_on_path,
)
from torchon_extensions.gitcache import GitCacheError, RepoCache
from torchon_extensions.gitspec import GitSpec, GitSpecError, parse_git_spec
from torchon_extensions.pip import install_folder, installed_for_module

__all__ = ["GitResolver"]

logger = logging.getLogger("torchon.extensions")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


def _listing(names: list[str], limit: int = 8) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _where(spec: GitSpec, commit: str) -> str:
    ref = f"@{spec.ref}" if spec.ref else ""
    sub = f", folder {spec.subdirectory!r}" if spec.subdirectory else ""
    return f"{spec.url}{ref} ({commit[:12]}{sub})"


def _contents(folder: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    return _listing(names) if names else "nothing"


class GitResolver(ExtensionResolver):
    """A git repository (optionally at a ref, optionally a subfolder of it)."""

    def resolve(self, ext: ExtensionSpec) -> ResolvedExtension:
        try:
            spec = parse_git_spec(ext.target, ext.base_dir)
        except GitSpecError as exc:
            raise ExtensionError(
                f"extension {ext.name!r}: {ext.target!r} is not a git spec I can read: {exc}",
                fix="write URL, URL@REF or URL@REF#subdirectory=FOLDER (or GitHub's .../tree/REF/FOLDER)",
            ) from None
        cache = RepoCache(spec.fetch_url())
        if self.install or ext.locked is not None:
            return self._install(ext, spec, cache)
        return self._use_installed(ext, spec, cache)

    # -- installing -----------------------------------------------------------------------------------------

    def _install(self, ext: ExtensionSpec, spec: GitSpec, cache: RepoCache) -> ResolvedExtension:
        with cache.locked():
            commit, spec = self._commit(ext, spec, cache, ext.locked)
            tree = cache.export(commit)
        folder = tree / spec.subdirectory if spec.subdirectory else tree
        where = _where(spec, commit)
        if not folder.is_dir():
            raise ExtensionError(
                f"extension {ext.name!r}: {where} has no folder {spec.subdirectory!r}",
                fix="check the folder's path inside the repository at that ref",
            )
        record: dict[str, Any] = {
            "url": spec.url,
            "ref": spec.ref,
            "subdirectory": spec.subdirectory or None,
            "commit": commit,
        }
        if has_project_file(folder):
            installed = install_folder(ext.name, ext.spec, folder, where)
            import_extension(ext.name)
            return ResolvedExtension(
                ext.name, "git", ext.spec, version=installed.version, distribution=installed.name, **record
            )
        provided = module_names_in(folder)
        if not provided:
            raise ExtensionError(
                f"extension {ext.name!r}: {where} holds no Python package: no pyproject.toml or setup.py, no "
                f"package folder or module (it has {_contents(folder)})",
                fix="point at the folder holding the package, with #subdirectory=FOLDER or .../tree/REF/FOLDER",
            )
        if ext.name not in provided:
            raise key_mismatch(ext.name, ext.spec, where, provided)
        put_on_path(ext.name, ext.spec, folder, where)
        return ResolvedExtension(ext.name, "git", ext.spec, path=str(folder), **record)

    def _commit(
        self, ext: ExtensionSpec, spec: GitSpec, cache: RepoCache, locked: Mapping[str, Any] | None
    ) -> tuple[str, GitSpec]:
        """The commit to install, and the spec with GitHub's tree/ form split: the lock's, or the ref's now."""
        if locked is not None and locked.get("commit"):
            pinned = str(locked["commit"])
            if not (cache.exists() and cache.has_commit(pinned)):
                self._fetch(ext, spec, cache)
                if not cache.has_commit(pinned) and not cache.fetch_commit(pinned):
                    raise ExtensionError(
                        f"extension {ext.name!r}: the lock's commit {pinned[:12]} is not in {spec.url} (any more)",
                        fix="the history was rewritten upstream; run without --locked to resolve the spec again",
                    )
            if spec.tree is not None:
                spec = GitSpec(spec.url, locked.get("ref"), str(locked.get("subdirectory") or ""))
            return pinned, spec
        if locked is not None:
            raise ExtensionError(
                f"extension {ext.name!r}: the lock records no commit for it",
                fix="the lock was written when it was not installed from git; run without --locked to write a "
                "new lock",
            )
        self._fetch(ext, spec, cache)
        branches, tags = cache.refs()
        spec = spec.split_tree(branches, tags)
        sha = cache.resolve(spec.ref)
        if (
            sha is None
            and spec.ref
            and re.fullmatch(r"[0-9a-f]{7,40}", spec.ref)
            and cache.fetch_commit(spec.ref)
        ):
            sha = cache.resolve(spec.ref)  # a commit on no branch or tag, fetched by its SHA
        if sha is None:
            what = f"no branch, tag or commit {spec.ref!r}" if spec.ref else "no default branch"
            raise ExtensionError(
                f"extension {ext.name!r}: {spec.url} has {what} (branches: {_listing(branches)}; tags: "
                f"{_listing(tags)})",
                fix="write an existing branch, tag or commit after '@' (or in GitHub's .../tree/REF/...)",
            )
        return sha, spec

    @staticmethod
    def _fetch(ext: ExtensionSpec, spec: GitSpec, cache: RepoCache) -> None:
        try:
            cache.fetch()
        except GitCacheError as exc:
            shown = spec.url if cache.url == spec.url else f"{spec.url} (fetched from {cache.url})"
            raise ExtensionError(
                f"extension {ext.name!r}: cannot fetch git repository {shown}: {exc}",
                fix="check that the URL names a git repository you can reach (`git clone URL` should work)",
            ) from None

    # -- using what is installed ------------------------------------------------------------------------------

    def _use_installed(self, ext: ExtensionSpec, spec: GitSpec, cache: RepoCache) -> ResolvedExtension:
        if cache.exists():
            spec = spec.split_tree(*cache.refs())
        current = installed_for_module(ext.name)
        commit = cache.tree_of(current.source_dir) if current and current.source_dir else None
        if current is not None and commit is not None:
            self._check_pin(ext, spec, cache, commit)
            import_extension(ext.name)
            return ResolvedExtension(
                ext.name,
                "git",
                ext.spec,
                version=current.version,
                distribution=current.name,
                url=spec.url,
                ref=spec.ref,
                subdirectory=spec.subdirectory or None,
                commit=commit,
            )
        exported = self._exported_folder(spec, cache)
        if exported is not None:
            folder, sha = exported
            put_on_path(ext.name, ext.spec, folder, _where(spec, sha))
            return ResolvedExtension(
                ext.name,
                "git",
                ext.spec,
                path=str(folder),
                url=spec.url,
                ref=spec.ref,
                subdirectory=spec.subdirectory or None,
                commit=sha,
            )
        if current is not None or importlib.util.find_spec(ext.name) is not None:
            logger.warning(
                "extension %r is installed, but not from %s; using the installed one", ext.name, spec.url
            )
            import_extension(ext.name)
            return ResolvedExtension(
                ext.name,
                "git",
                ext.spec,
                version=current.version if current else None,
                distribution=current.name if current else None,
                url=spec.url,
            )
        raise ExtensionError(
            f"extension {ext.name!r} ({ext.target!r} from git) is not installed",
            fix="run with --install-extensions to clone it into torchon's cache and install it",
        )

    @staticmethod
    def _check_pin(ext: ExtensionSpec, spec: GitSpec, cache: RepoCache, installed: str) -> None:
        """A tag or commit spec must match the installed commit; a branch keeps what was installed last."""
        if spec.ref is None:
            return
        if _FULL_SHA.match(spec.ref) or (cache.exists() and not cache.is_branch(spec.ref)):
            wanted = spec.ref if _FULL_SHA.match(spec.ref) else cache.resolve(spec.ref)
            if wanted is not None and not wanted.startswith(installed) and not installed.startswith(wanted):
                raise ExtensionError(
                    f"extension {ext.name!r} is installed from {spec.url} at {installed[:12]}, but "
                    f"{spec.ref!r} is {wanted[:12]}",
                    fix="run with --install-extensions to install the commit the spec names",
                )

    @staticmethod
    def _exported_folder(spec: GitSpec, cache: RepoCache) -> tuple[Path, str] | None:
        """A plain package folder exported earlier for the commit ``spec`` names in the cache (no fetch)."""
        if not cache.exists():
            return None
        sha = cache.resolve(spec.ref)
        if sha is None or not (cache.trees / sha).is_dir():
            return None
        folder = cache.trees / sha / spec.subdirectory if spec.subdirectory else cache.trees / sha
        if not folder.is_dir() or has_project_file(folder):
            return None
        return folder, sha
