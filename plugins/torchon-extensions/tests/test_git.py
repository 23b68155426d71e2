"""Git extensions against real repositories made here: refs, tags, subfolders, a moved branch, GitHub's tree/
form through a mirror, the lock replaying an old commit, and bad specs reported at their header line.

The extensions here are plain package folders, which are used from torchon's cache without pip, so these tests
run in-process and install nothing into the environment (the pip-installed kind is in test_install.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchon.config import ConfigError, load_config
from torchon.runner import run_config
from torchon_extensions.testing import GitRepo

EXT = """\
import json
from pathlib import Path

import torchon

VALUE = {value!r}


class Thing(torchon.Runnable):
    def run(self) -> None:
        out = Path(torchon.get_env().output_dir)
        (out / "value.json").write_text(json.dumps(VALUE))
"""


class Repo(GitRepo):
    """A git repository of one plain package, as a user's would be."""

    def commit(self, value: str, *, folder: str = "pkgs/gext") -> str:  # type: ignore[override]
        """Commit a plain package whose VALUE is ``value``; returns the commit's SHA."""
        return super().commit({f"{folder}/__init__.py": EXT.format(value=value)}, value)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    """main: A (tagged v1), then B; branch feature/x: C; a docs/ folder with no package."""
    monkeypatch.setenv("TORCHON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TORCHON_GIT_MIRRORS", raising=False)
    r = Repo(tmp_path / "src")
    (r.path / "docs").mkdir()
    (r.path / "docs" / "README.md").write_text("docs\n")
    r.shas = {"A": r.commit("A")}  # type: ignore[attr-defined]
    r.git("tag", "-a", "v1", "-m", "v1")
    r.shas["B"] = r.commit("B")  # type: ignore[attr-defined]
    r.git("checkout", "-q", "-b", "feature/x")
    r.shas["C"] = r.commit("C")  # type: ignore[attr-defined]
    r.git("checkout", "-q", "main")
    yield r
    for name in [m for m in sys.modules if m == "gext" or m.startswith("gext.")]:
        del sys.modules[name]


def _forget_module() -> None:
    for name in [m for m in sys.modules if m == "gext" or m.startswith("gext.")]:
        del sys.modules[name]


def _run(tmp_path: Path, header: str, out: str, **kwargs: object) -> tuple[int, str, dict]:
    """Run a config with ``header`` in a fresh import state; (exit status, VALUE the run saw, its lock)."""
    _forget_module()
    config = tmp_path / "exp.yaml"
    config.write_text(f"{header}\n---\n!gext.Thing {{}}\n")
    code = run_config(config, output=str(tmp_path / out), **kwargs)  # type: ignore[arg-type]
    if code != 0:
        return code, "", {}
    value = json.loads((tmp_path / out / "value.json").read_text())
    lock = json.loads((tmp_path / out / "torchon.lock").read_text())
    return code, value, lock


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [("", "B"), ("@main", "B"), ("@v1", "A"), ("@feature/x", "C"), ("@{A}", "A"), ("@{A7}", "A")],
)
def test_refs_branches_tags_and_commits(repo: Repo, tmp_path: Path, suffix: str, expected: str) -> None:
    shas = repo.shas  # type: ignore[attr-defined]
    ref = suffix.format(A=shas["A"], A7=shas["A"][:7])
    code, value, lock = _run(
        tmp_path, f"gext: file://{repo.path}{ref}#subdirectory=pkgs", "out", install_extensions=True
    )
    assert code == 0 and value == expected
    entry = lock["extensions"]["gext"]
    assert entry["commit"] == shas[expected] and entry["kind"] == "git" and entry["subdirectory"] == "pkgs"
    assert entry["url"] == f"file://{repo.path}"


def test_without_the_flag_nothing_is_fetched_and_a_missing_extension_names_the_flag(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = f"gext: {repo.path}.git@main#subdirectory=pkgs".replace(".git@", "/.git@")
    code, _, _ = _run(tmp_path, header, "o1")
    err = capsys.readouterr().err
    assert code == 2 and "exp.yaml:1:7: error: extension 'gext'" in err and "is not installed" in err
    assert "--install-extensions" in err
    assert not (tmp_path / "o1").exists()
    assert _run(tmp_path, header, "o2", install_extensions=True)[:2] == (0, "B")
    # now in the cache: used without the flag, and without fetching (the source may be gone)
    (repo.path / ".git").rename(repo.path / "moved.git")
    code, value, lock = _run(tmp_path, header, "o3")
    assert (code, value) == (0, "B") and lock["extensions"]["gext"]["commit"] == repo.shas["B"]  # type: ignore[attr-defined]


def test_a_moved_branch_head_is_fetched_and_the_lock_keeps_the_old_commit(repo: Repo, tmp_path: Path) -> None:
    header = f"gext: file://{repo.path}@main#subdirectory=pkgs"
    code, value, first = _run(tmp_path, header, "o1", install_extensions=True)
    assert (code, value) == (0, "B")
    d = repo.commit("D")
    # installing again is safe: the cache is fetched, the branch moved, the new commit used
    code, value, second = _run(tmp_path, header, "o2", install_extensions=True)
    assert (code, value) == (0, "D") and second["extensions"]["gext"]["commit"] == d
    # the first run's lock replays the old commit, still in the cache
    code, value, replay = _run(tmp_path, header, "o3", locked=tmp_path / "o1" / "torchon.lock")
    assert (code, value) == (0, "B")
    assert replay["extensions"] == first["extensions"]
    cache = tmp_path / "cache" / "git"
    assert len(list(cache.iterdir())) == 1, "one cache entry per URL"
    trees = sorted(p.name for p in next(cache.iterdir()).joinpath("trees").iterdir())
    assert trees == sorted([repo.shas["B"], d])  # type: ignore[attr-defined]


def test_a_lock_replays_a_commit_the_cache_never_saw(repo: Repo, tmp_path: Path) -> None:
    header = f"gext: file://{repo.path}@main#subdirectory=pkgs"
    assert _run(tmp_path, header, "o1", install_extensions=True)[:2] == (0, "B")
    repo.commit("D")
    import shutil

    shutil.rmtree(tmp_path / "cache")
    code, value, _ = _run(tmp_path, header, "o2", locked=tmp_path / "o1" / "torchon.lock")
    assert (code, value) == (0, "B")


def test_github_tree_urls_through_a_mirror(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirrors = tmp_path / "mirrors"
    (mirrors / "user").mkdir(parents=True)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(repo.path), str(mirrors / "user" / "proj.git")], check=True
    )
    monkeypatch.setenv("TORCHON_GIT_MIRRORS", f"https://github.com/={mirrors}/")
    code, value, lock = _run(
        tmp_path, "gext: https://github.com/user/proj/tree/feature/x/pkgs", "o1", install_extensions=True
    )
    assert (code, value) == (0, "C")
    entry = lock["extensions"]["gext"]
    assert entry["url"] == "https://github.com/user/proj"  # as written, not the mirror
    assert (entry["ref"], entry["subdirectory"], entry["commit"]) == ("feature/x", "pkgs", repo.shas["C"])  # type: ignore[attr-defined]
    assert (
        _run(tmp_path, "gext: https://github.com/user/proj/tree/v1/pkgs", "o2", install_extensions=True)[1]
        == "A"
    )


def test_a_header_that_changed_since_the_lock_is_refused_at_its_line(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        _run(tmp_path, f"gext: file://{repo.path}@main#subdirectory=pkgs", "o1", install_extensions=True)[0]
        == 0
    )
    code, _, _ = _run(
        tmp_path,
        f"gext: file://{repo.path}@v1#subdirectory=pkgs",
        "o2",
        locked=tmp_path / "o1" / "torchon.lock",
    )
    err = capsys.readouterr().err
    assert code == 2 and "exp.yaml:1:7: error: extension 'gext': the config says" in err
    assert "the lock" in err and "@main" in err


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("gext: file://{tmp}/not_a_repo", "cannot fetch git repository file://{tmp}/not_a_repo: fatal:"),
        ("gext: {tmp}/missing.git", "cannot fetch git repository {tmp}/missing.git"),
        (
            "gext: file://{src}@nope#subdirectory=pkgs",
            "has no branch, tag or commit 'nope' (branches: feature/x, main; tags: v1)",
        ),
        ("gext: file://{src}@main#subdirectory=nothere", "has no folder 'nothere'"),
        ("gext: file://{src}@main#subdirectory=docs", "holds no Python package"),
        ("other: file://{src}@main#subdirectory=pkgs", "provides modules gext, not 'other'"),
    ],
    ids=[
        "not-a-repository",
        "missing-path",
        "missing-ref",
        "missing-folder",
        "folder-without-package",
        "key-mismatch",
    ],
)
def test_bad_specs_are_config_errors_at_the_header_line(
    repo: Repo, tmp_path: Path, header: str, message: str
) -> None:
    (tmp_path / "not_a_repo").mkdir()
    fill = {"tmp": tmp_path, "src": repo.path}
    config = tmp_path / "bad.yaml"
    config.write_text("# a comment first\n" + header.format(**fill) + "\n---\n!gext.Thing {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config, install=True)
    error = info.value
    key = header.split(":", 1)[0]
    assert error.mark is not None and (error.mark.line, error.mark.col) == (2, len(key) + 3)
    assert message.format(**fill) in error.what, error.what
    assert error.fix
