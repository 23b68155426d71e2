"""Taking a git spec apart: repository URL, ``@ref``, ``#subdirectory=``, and GitHub's ``tree/<ref>/<dir>`` form.

Accepted forms (all may be prefixed ``git+``)::

    https://host/user/repo.git                     the default branch
    https://host/user/repo.git@v1.2                a branch, tag or commit
    ssh://git@host/user/repo.git@main#subdirectory=pkg/ext
    git@host:user/repo.git@main
    file:///srv/repos/repo.git@main  ./repos/repo.git  /abs/path/repo.git   (a local repository)
    https://github.com/user/repo/tree/<ref>/<sub/folder>                   (GitHub's, and GitLab's /-/tree/)

In the ``tree/`` form the ref may itself hold slashes (``feature/x``), so where it ends and the folder begins is
decided later, against the repository's branches and tags (:meth:`GitSpec.split_tree`).

Mirrors: ``TORCHON_GIT_MIRRORS`` holds ``PREFIX=REPLACEMENT`` pairs (separated by spaces or newlines); a URL
starting with PREFIX is fetched from REPLACEMENT + the rest instead (``https://github.com/=/srv/mirrors/``),
while locks and run records keep the URL as written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from torchon.api import UserError

__all__ = ["MIRRORS_ENV", "GitSpec", "GitSpecError", "parse_git_spec"]

MIRRORS_ENV = "TORCHON_GIT_MIRRORS"

_TREE_FORM = re.compile(r"^(?P<repo>https?://[^/]+/[^/]+/[^/]+?)(?:\.git)?/(?:-/)?tree/(?P<rest>.+?)/?$")
_SCP_FORM = re.compile(r"^[\w.-]+@[\w.-]+:")


class GitSpecError(UserError, ValueError):
    """The spec cannot be read as a git repository; the message says why."""


@dataclass(frozen=True)
class GitSpec:
    """A git spec taken apart.

    :ivar url: the repository as written (a URL, or an absolute local path).
    :ivar ref: the branch, tag or commit asked for; None for the default branch.
    :ivar subdirectory: the folder inside the repository holding the extension ("" for the top).
    :ivar tree: for GitHub's ``tree/`` form, ``<ref>/<folder>`` not yet split (see :meth:`split_tree`).
    """

    url: str
    ref: str | None = None
    subdirectory: str = ""
    tree: str | None = None

    def fetch_url(self, environ: Mapping[str, str] | None = None) -> str:
        """Where to fetch from: :attr:`url` after the mirror rewrites of ``TORCHON_GIT_MIRRORS``."""
        return apply_mirrors(self.url, (os.environ if environ is None else environ).get(MIRRORS_ENV, ""))

    def split_tree(self, branches: Iterable[str], tags: Iterable[str]) -> GitSpec:
        """For the ``tree/`` form: the longest leading part that is a branch or tag is the ref, the rest the
        folder; failing that, the first part (a commit, or a ref that does not exist, reported as such)."""
        if self.tree is None:
            return self
        known = set(branches) | set(tags)
        parts = self.tree.split("/")
        for cut in range(len(parts), 0, -1):
            ref = "/".join(parts[:cut])
            if ref in known:
                return GitSpec(self.url, ref, _clean_subdirectory("/".join(parts[cut:])))
        return GitSpec(self.url, parts[0], _clean_subdirectory("/".join(parts[1:])))


def apply_mirrors(url: str, setting: str) -> str:
    """``url`` rewritten by the first matching ``PREFIX=REPLACEMENT`` pair of ``setting``."""
    for pair in setting.split():
        prefix, sep, replacement = pair.partition("=")
        if sep and prefix and url.startswith(prefix):
            return replacement + url[len(prefix) :]
    return url


def _clean_subdirectory(sub: str) -> str:
    pure = PurePosixPath(sub.strip("/")) if sub.strip("/") else PurePosixPath()
    if pure.is_absolute() or ".." in pure.parts:
        raise GitSpecError(f"subdirectory {sub!r} must be a relative path inside the repository")
    return "" if str(pure) == "." else pure.as_posix()


def _path_start(url: str) -> int:
    """Index where the repository path begins (after ``scheme://user@host`` or ``user@host:``)."""
    if "://" in url:
        after = url.index("://") + 3
        slash = url.find("/", after)
        return len(url) if slash < 0 else slash
    m = _SCP_FORM.match(url)
    return m.end() if m else 0


def parse_git_spec(target: str, base_dir: Path | None = None) -> GitSpec:
    """Read ``target`` (a spec without ``git+``); relative local paths are taken from ``base_dir``."""
    text = target.strip()
    if text.startswith("git+"):
        text = text[4:]
    if not text:
        raise GitSpecError("the spec is empty")
    text, _, fragment = text.partition("#")
    subdirectory = ""
    for item in filter(None, fragment.split("&")):
        key, sep, value = item.partition("=")
        if key == "subdirectory" and sep:
            subdirectory = _clean_subdirectory(value)
        elif key != "egg":
            raise GitSpecError(f"unknown fragment {item!r}; write #subdirectory=path/in/repo")
    tree = _TREE_FORM.match(text)
    if tree:
        if subdirectory:
            raise GitSpecError("give the folder either in the tree/ URL or as #subdirectory=, not both")
        return GitSpec(tree.group("repo"), tree=tree.group("rest"))
    ref = None
    at = text.rfind("@")
    if at > _path_start(text):
        text, ref = text[:at], text[at + 1 :]
        if not ref:
            raise GitSpecError("nothing after '@'; write @<branch, tag or commit>")
    if "://" not in text and not _SCP_FORM.match(text):
        path = Path(os.path.expanduser(text))
        text = str(((base_dir or Path.cwd()) / path).resolve())
    return GitSpec(text.rstrip("/"), ref, subdirectory)
