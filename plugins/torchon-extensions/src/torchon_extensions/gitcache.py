"""The cache of git repositories extensions come from: one bare clone per URL, one exported tree per commit.

Layout, under ``$TORCHON_CACHE_DIR/git`` (default ``~/.cache/torchon/git``, or ``$XDG_CACHE_HOME/torchon/git``)::

    <name>-<hash of the URL>/repo.git        bare clone; every fetch updates its branches and tags
    <name>-<hash of the URL>/trees/<sha>/    the files of one commit, never changed once written
    <name>-<hash of the URL>/.lock           held while fetching or exporting, so parallel runs are safe

Keying by URL and by commit is what makes installing safe to repeat: fetching moves a branch in ``repo.git``, but
the tree of a commit a lock names stays where it was. GitPython is imported here, and this module only when a
header names a git extension.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torchon.api import UserError

__all__ = ["CACHE_ENV", "GitCacheError", "RepoCache", "cache_root"]

CACHE_ENV = "TORCHON_CACHE_DIR"
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
# Never ask for a password on a terminal: a URL that is not a public repository fails instead of hanging.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "GCM_INTERACTIVE": "never"}


class GitCacheError(UserError):
    """A git operation failed; the message carries what git said."""


def cache_root() -> Path:
    """torchon's cache folder: ``$TORCHON_CACHE_DIR``, else ``$XDG_CACHE_HOME/torchon``, else ``~/.cache/torchon``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "torchon"


def _git_said(exc: Any) -> str:
    """The useful line of a failed git command's stderr."""
    stderr = str(getattr(exc, "stderr", "") or exc)
    lines = [line.strip().removeprefix("stderr:").strip().strip("'").strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:", "ERROR:"))]
    return (fatal or lines[-1:] or ["no output"])[0]


class RepoCache:
    """The cached clone of one repository URL."""

    def __init__(self, url: str, root: Path | None = None) -> None:
        self.url = url
        name = (
            re.sub(r"[^\w.-]+", "_", url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))[:40] or "repo"
        )
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
        self.folder = (root or cache_root() / "git") / f"{name}-{digest}"
        self.repo_path = self.folder / "repo.git"
        self.trees = self.folder / "trees"

    # -- state ------------------------------------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.repo_path / "HEAD").is_file()

    def _repo(self) -> Any:
        import git

        repo = git.Repo(self.repo_path)
        repo.git.update_environment(**_GIT_ENV)
        return repo

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this repository's lock (a no-op where ``fcntl`` is missing)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        with open(self.folder / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- network --------------------------------------------------------------------------------------------

    def fetch(self) -> None:
        """Clone the repository, or bring its branches and tags up to date (moved and deleted ones too)."""
        import git

        if not self.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix="clone-", dir=self.folder))
            try:
                git.Repo.clone_from(self.url, tmp, bare=True, env=_GIT_ENV)
                os.replace(tmp, self.repo_path)
            except git.GitCommandError as exc:
                raise GitCacheError(_git_said(exc)) from None
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return
        repo = self._repo()
        try:
            repo.git.fetch(
                self.url, "--prune", "--force", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"
            )
        except git.GitCommandError as exc:
            raise GitCacheError(_git_said(exc)) from None
        self._follow_default_branch(repo)

    def _follow_default_branch(self, repo: Any) -> None:
        """Point HEAD at the remote's default branch, which may have changed since the clone."""
        import git

        try:
            out = repo.git.ls_remote("--symref", self.url, "HEAD")
        except git.GitCommandError:
            return
        m = re.search(r"^ref: (refs/heads/\S+)\s+HEAD", out, re.M)
        if m:
            repo.git.symbolic_ref("HEAD", m.group(1))

    def fetch_commit(self, sha: str) -> bool:
        """Try to fetch one commit by its SHA (it may be on no branch any more); whether it is here now."""
        import git

        try:
            self._repo().git.fetch(self.url, sha)
        except git.GitCommandError:
            return False
        return self.has_commit(sha)

    # -- reading --------------------------------------------------------------------------------------------

    def refs(self) -> tuple[list[str], list[str]]:
        """(branches, tags) of the cached clone."""
        repo = self._repo()
        out = repo.git.for_each_ref("--format=%(refname)", "refs/heads", "refs/tags")
        branches, tags = [], []
        for line in out.splitlines():
            if line.startswith("refs/heads/"):
                branches.append(line[len("refs/heads/") :])
            elif line.startswith("refs/tags/"):
                tags.append(line[len("refs/tags/") :])
        return sorted(branches), sorted(tags)

    def resolve(self, ref: str | None) -> str | None:
        """The commit SHA ``ref`` names (a branch, then a tag, then a commit), or None."""
        import git

        repo = self._repo()
        candidates = (
            ["HEAD"]
            if ref is None
            else [f"refs/heads/{ref}", f"refs/tags/{ref}"] + ([ref] if _SHA.match(ref) else [])
        )
        for name in candidates:
            try:
                return str(repo.git.rev_parse("--verify", "--quiet", f"{name}^{{commit}}")).strip()
            except git.GitCommandError:
                continue
        return None

    def is_branch(self, ref: str | None) -> bool:
        """Whether ``ref`` is a branch (or the default branch): what moves when the repository is fetched."""
        return ref is None or ref in self.refs()[0]

    def has_commit(self, sha: str) -> bool:
        return self.resolve(sha) is not None if _SHA.match(sha) else False

    def export(self, sha: str) -> Path:
        """The files of commit ``sha`` under ``trees/<sha>/``, written once (atomically) and reused."""
        target = self.trees / sha
        if target.is_dir():
            return target
        self.trees.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=self.trees))
        try:
            buffer = io.BytesIO()
            self._repo().archive(buffer, sha, format="tar")
            buffer.seek(0)
            with tarfile.open(fileobj=buffer) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, filter="data")
                else:  # pragma: no cover - Python before 3.11.4
                    tar.extractall(tmp)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    def tree_of(self, path: Path) -> str | None:
        """The commit whose exported tree holds ``path``, if ``path`` is inside this cache's trees."""
        try:
            rel = path.resolve().relative_to(self.trees.resolve())
        except ValueError:
            return None
        return rel.parts[0] if rel.parts and _SHA.match(rel.parts[0]) else None
