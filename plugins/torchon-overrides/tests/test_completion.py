"""Shell completion (argcomplete, the optional extra ``torchon[completion]``), asked the way bash asks it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("argcomplete")

CONFIG = """\
!Job
model: !Seq
  - !Linear {in_features: 4, out_features: 8}
optimizer: !Adam {lr: 0.1}
steps: 3
"""


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


def test_commands_options_and_config_keys_complete(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(CONFIG)
    assert complete("torchon ru", tmp_path) == ["run "]
    # two options: no space after either
    assert complete("torchon run job.yaml --p", tmp_path) == ["--plugin", "--print-config"]
    assert complete("torchon plu", tmp_path) == ["plugins "]
    assert complete("torchon run job.yaml --chec", tmp_path) == ["--check "]
    assert complete("torchon run job.yaml opt", tmp_path) == sorted(["optimizer=", "optimizer.lr="])
    assert complete("torchon run job.yaml steps=3 ~mod", tmp_path) == sorted(
        ["~model", "~model\\[0\\]", "~model\\[0\\].in_features", "~model\\[0\\].out_features"]
    )  # brackets escaped for the shell
    assert complete("torchon run job.yaml optimizer.lr=", tmp_path) == []  # a value: nothing to offer
    assert complete("torchon run missing.yaml opt", tmp_path) == []  # no config: no keys, no error
