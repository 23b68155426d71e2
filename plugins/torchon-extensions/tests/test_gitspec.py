"""How a git spec comes apart: URL, ``@ref``, ``#subdirectory=``, GitHub's tree/ form, mirrors (no git, no
network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchon_extensions.gitspec import GitSpec, GitSpecError, apply_mirrors, parse_git_spec


@pytest.mark.parametrize(
    ("target", "url", "ref", "sub"),
    [
        ("https://host/user/repo.git", "https://host/user/repo.git", None, ""),
        ("https://host/user/repo.git@v1.2", "https://host/user/repo.git", "v1.2", ""),
        ("https://host/user/repo.git@feature/x", "https://host/user/repo.git", "feature/x", ""),
        ("https://me@host/user/repo.git", "https://me@host/user/repo.git", None, ""),
        ("git+ssh://git@host/r.git@main#subdirectory=pkg/ext", "ssh://git@host/r.git", "main", "pkg/ext"),
        ("git@host:user/repo.git", "git@host:user/repo.git", None, ""),
        ("git@host:user/repo.git@abc1234", "git@host:user/repo.git", "abc1234", ""),
        ("file:///srv/repo@dev#subdirectory=a", "file:///srv/repo", "dev", "a"),
    ],
)
def test_parse_git_spec(target: str, url: str, ref: str | None, sub: str) -> None:
    assert parse_git_spec(target) == GitSpec(url, ref, sub)


def test_local_repository_paths_are_made_absolute_from_the_config_folder(tmp_path: Path) -> None:
    spec = parse_git_spec("./repos/ext.git@v1", tmp_path)
    assert spec == GitSpec(str(tmp_path / "repos" / "ext.git"), "v1", "")


def test_github_tree_form_is_split_against_the_repository_refs() -> None:
    spec = parse_git_spec("https://github.com/user/repo/tree/feature/x/pkgs/ext")
    assert spec.url == "https://github.com/user/repo" and spec.tree == "feature/x/pkgs/ext"
    assert spec.split_tree(["main", "feature/x"], ["v1"]) == GitSpec(
        "https://github.com/user/repo", "feature/x", "pkgs/ext"
    )
    assert spec.split_tree(["feature"], []).ref == "feature"
    assert spec.split_tree([], []) == GitSpec("https://github.com/user/repo", "feature", "x/pkgs/ext")
    top = parse_git_spec("https://github.com/user/repo/tree/main")
    assert top.split_tree(["main"], []) == GitSpec("https://github.com/user/repo", "main", "")
    gitlab = parse_git_spec("https://gitlab.com/group/repo/-/tree/v2/sub")
    assert gitlab.split_tree([], ["v2"]) == GitSpec("https://gitlab.com/group/repo", "v2", "sub")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("https://host/r.git#subdirectory=../up", "inside the repository"),
        ("https://host/r.git#egg=x&frag=1", "unknown fragment"),
        ("https://host/r.git@", "nothing after '@'"),
        ("https://github.com/u/r/tree/main/sub#subdirectory=x", "not both"),
    ],
)
def test_bad_git_specs(target: str, message: str) -> None:
    with pytest.raises(GitSpecError, match=message):
        parse_git_spec(target)


def test_mirrors_rewrite_the_fetch_url_only() -> None:
    setting = "https://example.org/=/nowhere/ https://github.com/=file:///srv/mirrors/"
    assert apply_mirrors("https://github.com/user/repo", setting) == "file:///srv/mirrors/user/repo"
    assert apply_mirrors("https://gitlab.com/user/repo", setting) == "https://gitlab.com/user/repo"
    spec = parse_git_spec("https://github.com/user/repo.git@v1")
    assert spec.fetch_url({"TORCHON_GIT_MIRRORS": setting}) == "file:///srv/mirrors/user/repo.git"
    assert spec.url == "https://github.com/user/repo.git"
