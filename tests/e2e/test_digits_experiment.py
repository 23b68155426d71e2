"""The digits Experiment of the Quickstart, run as a user runs it: `torchon run examples/digits/experiment.yaml`
(about 30 s on 2 cores)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torchon_search")
pytest.importorskip("torchon_torch")
pytest.importorskip("sklearn")

import torchon
import torchon.plugins as plugins_module

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits" / "experiment.yaml"


def test_the_digits_experiment_searches_reduces_evaluates_and_exports(tmp_path: Path) -> None:
    import torch

    from torchon_torch.datasets import DigitsData

    env = {k: v for k, v in os.environ.items() if k != "TORCHON_DISABLE_PLUGIN_AUTOLOAD"}
    exe = Path(sys.executable).with_name("torchon")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "torchon"]
    out = tmp_path / "run"
    proc = subprocess.run(
        [*cmd, "run", str(EXAMPLE), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert json.loads((out / "run.json").read_text())["status"] == "succeeded"
    report = (out / "report.html").read_text()
    drawn = re.findall(r'<div class="chart" data-chart="(\w+)">', report)
    # the train stage's metric over steps and hyperparameters, the test stage's bars, and the stages' graph
    assert drawn.count("curves") == 2 and "parallel" in drawn and "slices" in drawn and "dag" in drawn

    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    train = [r for r in rows if r["stage"] == "train"]
    test = [r for r in rows if r["stage"] == "test"]
    assert len(train) == 8  # 4 TPE samples for each of the 2 widths
    statuses = {r["status"] for r in train}
    assert statuses <= {"completed", "pruned"} and "pruned" in statuses  # ASHA stopped some early
    assert len(test) == 2 and {r["status"] for r in test} == {"completed"}  # reduce: {train: 2}

    # the best trained model, as exported: loads without the run, and classifies the test digits (set aside from
    # the training and validation parts: no trial saw them; the split the example's test stage evaluates on)
    plugins_module.set_manager(plugins_module.PluginManager.from_options(["torch"], autoload=False))
    best = torchon.load(out / "best" / "train")
    inputs, targets = DigitsData(split="test", test_fraction=0.2).load()
    with torch.no_grad():
        accuracy = (best.model(inputs).argmax(dim=1) == targets).float().mean().item()
    assert accuracy >= 0.95
    evaluated = torchon.load(out / "best" / "test")  # the test stage evaluated the same best model
    assert max(float(r["value"]) for r in test) == pytest.approx(accuracy, abs=1e-6)
    assert all(
        torch.equal(a, b)
        for a, b in zip(evaluated.model.state_dict().values(), best.model.state_dict().values())
    )
