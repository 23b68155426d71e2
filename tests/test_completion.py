"""Shell completion (argcomplete, the optional extra ``torchon[completion]``), asked the way bash asks it: the
kernel completes commands and options (a config's keys come with torchon-overrides)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("argcomplete")


def complete(line: str, cwd: Path) -> list[str]:
    out = cwd / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "torchon"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return sorted(word for word in out.read_text().split("\v") if word) if out.exists() else []


def test_commands_and_options_complete(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text("!Job\nsteps: 3\n")
    assert complete("torchon ru", tmp_path) == ["run "]
    # two options: no space after either
    assert complete("torchon run job.yaml --p", tmp_path) == ["--plugin", "--print-config"]
    assert complete("torchon plu", tmp_path) == ["plugins "]
    assert complete("torchon run job.yaml --chec", tmp_path) == ["--check "]
    assert (
        complete("torchon run job.yaml ste", tmp_path) == []
    )  # no plugin to complete keys: nothing, no error
