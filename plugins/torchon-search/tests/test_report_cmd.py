"""``torchon report RUN_DIR``: the page drawn again from a run folder, with or without the run's ``report.json``."""

from __future__ import annotations

import json
from pathlib import Path

from search_helpers import torchon

from torchon_search.records import TrialRecord
from torchon_search.report_data import NotARun, load_run

SEARCH = """
!Search
trial: !toy.Train
  model: !toy.Model {width: !randint [2, 16]}
  lr: !loguniform [0.001, 0.3]
  sleep: !choice [0.0, 0.001]
  epochs: 3
metric: loss
algorithm: random
num_samples: 4
seed: 2
"""


def test_report_command_redraws_a_run(run_search, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc, out = run_search(SEARCH)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((out / "report.json").read_text())
    kinds = {p["name"]: p["kind"] for p in meta["stages"][0]["params"]}
    assert kinds == {"model.width": "int", "lr": "log", "sleep": "categorical"}
    (out / "report.html").unlink()
    (out / "plotly.min.js").unlink()
    done = torchon("report", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (out / "report.html").read_text()
    assert (out / "plotly.min.js").is_file()
    assert page.count('class="chart"') == 4 and "Inferred" not in page

    # a run killed before its end has no report.json: the space and the metric are inferred from its trials
    (out / "report.json").unlink()
    report = load_run(out)
    stage = report.stages["search"]
    assert stage.metric == "loss" and stage.mode == "min"
    assert {p.name: p.kind for p in stage.params}["sleep"] == "categorical"
    assert {p.name: p.kind for p in stage.params}["model.width"] == "int"
    done = torchon("report", out, "--embed", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (out / "report.html").read_text()
    assert "Inferred from the trials" in page and len(page) > 4_000_000  # Plotly.js inside


def test_report_command_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "missing"):
        proc = torchon("report", target, cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.startswith("torchon report: error: ") and str(target) in proc.stderr
        assert "Traceback" not in proc.stderr


def test_inferred_lineage(tmp_path: Path) -> None:
    """An experiment's folder without report.json: stages from their folders, what went on from the inputs."""
    for stage, number, key, inputs, value in [
        ("train", 0, "a" * 16, {}, 0.5),
        ("train", 1, "b" * 16, {}, 0.7),
        ("test", 2, "c" * 16, {"train": "b" * 16}, 0.9),
    ]:
        folder = tmp_path / stage / "trials" / key
        folder.mkdir(parents=True)
        history = [{"step": 1, "metrics": {"accuracy": value}}]
        TrialRecord(
            stage,
            number,
            key,
            {"lr": 0.01 * (number + 1)},
            {"lr": 0.01 * (number + 1)},
            inputs,
            str(folder),
            status="completed",
            steps=1,
            value=value,
            metrics={"accuracy": value},
            history=history,
        ).save()
    report = load_run(tmp_path)
    assert report.kind == "Experiment" and list(report.stages) == ["train", "test"]
    assert report.stages["test"].deps == ["train"]
    assert report.stages["train"].kept == ["b" * 16]
    assert report.stages["train"].mode == "max" and report.stages["train"].metric == "accuracy"
    try:
        load_run(tmp_path / "train" / "trials")
    except NotARun:
        pass
    else:
        raise AssertionError("a folder of trials is not a run")
