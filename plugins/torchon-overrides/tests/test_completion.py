"""Completion of overrides (argcomplete, the extra ``torchon-overrides[completion]``), asked the way bash asks it:
the config's keys, with the installed plugins loaded as a user's shell loads them."""

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
    env.pop("TORCHON_DISABLE_PLUGIN_AUTOLOAD")  # as in a user's shell: installed plugins load
    proc = subprocess.run(
        [sys.executable, "-m", "torchon"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return sorted(word for word in out.read_text().split("\v") if word) if out.exists() else []


def test_config_keys_complete_as_overrides(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(CONFIG)
    assert complete("torchon run job.yaml --chec", tmp_path) == ["--check "]  # the options are still there
    assert complete("torchon run job.yaml opt", tmp_path) == sorted(["optimizer=", "optimizer.lr="])
    assert complete("torchon run job.yaml steps=3 ~mod", tmp_path) == sorted(
        ["~model", "~model\\[0\\]", "~model\\[0\\].in_features", "~model\\[0\\].out_features"]
    )  # brackets escaped for the shell
    assert complete("torchon run job.yaml optimizer.lr=", tmp_path) == []  # a value: nothing to offer
    assert complete("torchon run missing.yaml opt", tmp_path) == []  # no config: no keys, no error
