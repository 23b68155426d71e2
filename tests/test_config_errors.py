"""The bad-config corpus: every file in tests/corpus/bad is refused with its expected message, position and fix.

Each file starts with ``# expect: LINE:COL: error: MESSAGE`` (or ``# expect: error: MESSAGE`` where the
position is not what the case is about) and ``# fix: TEXT``. The whole path a user takes is checked: in-process
through ``run_config`` and through the real ``torchon run`` command (exit status 2, no traceback).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from torchon.runner import run_config

TESTS = Path(__file__).parent
CORPUS = sorted((TESTS / "corpus" / "bad").glob("*.yaml"))


def _expectations(path: Path) -> tuple[str, str]:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# expect: ") and lines[1].startswith("# fix: "), (
        f"{path.name}: missing header"
    )
    return lines[0][len("# expect: ") :], lines[1][len("# fix: ") :]


def _check(path: Path, stderr: str) -> None:
    expect, fix = _expectations(path)
    lines = stderr.strip().splitlines()
    assert lines, f"{path.name}: nothing printed"
    headline = lines[0]
    assert headline.startswith(str(path) + ":"), (
        f"{path.name}: {headline!r} does not start with the file name"
    )
    if expect.startswith("error:"):
        assert expect in headline, f"{path.name}: {headline!r} lacks {expect!r}"
    else:
        assert headline.startswith(f"{path}:{expect}"), f"{path.name}: {headline!r} != {expect!r}"
    fix_lines = [line for line in lines if line.startswith("  fix: ")]
    assert len(fix_lines) == 1, f"{path.name}: expected one fix line in {stderr!r}"
    assert fix in fix_lines[0], f"{path.name}: {fix_lines[0]!r} lacks {fix!r}"
    assert "Traceback" not in stderr


def test_corpus_is_large_and_distinct() -> None:
    assert len(CORPUS) >= 30
    expectations = [_expectations(p)[0] for p in CORPUS]
    assert len(set(expectations)) == len(expectations), "two corpus files expect the same message"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_refused_in_process(
    path: Path, corpus_manager, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_config(path, output=str(tmp_path / "out"))
    captured = capsys.readouterr()
    assert code == 2, captured.err
    _check(path, captured.err)


def _run_cli(path: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torchon", "run", str(path), "-o", str(out), "-p", "corpus_plugin", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_refused_by_cli(path: Path, tmp_path: Path, cli_env) -> None:
    proc = _run_cli(path, tmp_path / "out", cli_env())
    assert proc.returncode == 2, proc.stderr
    _check(path, proc.stderr)


def test_debug_shows_the_traceback(tmp_path: Path, cli_env) -> None:
    path = TESTS / "corpus" / "bad" / "42_constructor_raises.yaml"
    proc = _run_cli(path, tmp_path / "o", cli_env(), "--debug")
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "width must be positive" in proc.stderr


@pytest.mark.parametrize("name", ["01_unknown_tag", "42_constructor_raises", "22_not_runnable"])
def test_a_config_error_leaves_no_output_folder(name: str, tmp_path: Path, corpus_manager) -> None:
    out = tmp_path / "out"
    assert run_config(TESTS / "corpus" / "bad" / f"{name}.yaml", output=str(out)) == 2
    assert not out.exists()
