"""A git or PyPI extension that is not installed, run without --install-extensions, is refused at its header line
with a fix naming the flag; nothing is fetched or installed. Each file of corpus/bad starts with
``# expect: LINE:COL: error: MESSAGE`` and ``# fix: TEXT``, checked in-process and through the real ``torchon run``
(exit status 2, no traceback), as the kernel's corpus of bad configs is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchon.runner import run_config

TESTS = Path(__file__).resolve().parent
CORPUS = sorted((TESTS / "corpus" / "bad").glob("*.yaml"))


def _check(path: Path, stderr: str) -> None:
    lines = path.read_text().splitlines()
    expect, fix = lines[0].removeprefix("# expect: "), lines[1].removeprefix("# fix: ")
    out = stderr.strip().splitlines()
    assert out and out[0].startswith(f"{path}:{expect}"), f"{path.name}: {out[:1]!r} != {expect!r}"
    fixes = [line for line in out if line.startswith("  fix: ")]
    assert len(fixes) == 1 and fix in fixes[0], stderr
    assert "Traceback" not in stderr


def test_there_are_cases() -> None:
    assert [p.name for p in CORPUS] == ["git_not_installed.yaml", "pypi_not_installed.yaml"]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_refused_in_process(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCHON_CACHE_DIR", str(tmp_path / "cache"))
    assert run_config(path, output=str(tmp_path / "out")) == 2
    _check(path, capsys.readouterr().err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_refused_by_cli(path: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHON_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS / "corpus"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["TORCHON_CACHE_DIR"] = str(tmp_path / "cache")
    cmd = [sys.executable, "-m", "torchon", "run", str(path), "-o", str(tmp_path / "out")]
    proc = subprocess.run(
        [*cmd, "-p", "extensions", "-p", "ext_corpus"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    _check(path, proc.stderr)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
