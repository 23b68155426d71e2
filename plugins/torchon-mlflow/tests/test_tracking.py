"""``torchon run --track mlflow``: runs, searches and experiments in a real MLflow server, read back with
``MlflowClient``."""

from __future__ import annotations

import csv
import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mlflow_helpers import REPO, artifacts, children, history, torchon, tracked_run, write_config

import torchon as torchon_module
from torchon_mlflow.names import key

TRAIN = """
!Trainer
model: !torch.nn.Sequential
  - !torch.nn.Linear {in_features: 64, out_features: 32}
  - !torch.nn.ReLU {}
  - !torch.nn.Linear {in_features: 32, out_features: 10}
train_data: !DigitsData {split: train}
val_data: !DigitsData {split: val}
batch_size: 64
optimizer: !torch.optim.Adam {lr: 0.01}
metrics: [accuracy]
val_metric: accuracy
max_steps: 3
seed: 0
"""


def _git_repo(folder: Path) -> str:
    """Make ``folder`` a git repository with one commit; its commit's id."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=folder,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "configs")
    return git("rev-parse", "HEAD")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_trainer_run_is_an_mlflow_run(tmp_path: Path, mlflow_env: dict[str, str], client: Any) -> None:
    pytest.importorskip("torchon_torch")
    config = write_config(tmp_path, TRAIN, "train.yaml", toy=False)
    commit = _git_repo(tmp_path)
    out = tmp_path / "out"

    proc = torchon("run", config, "--track", "mlflow", "-o", out, cwd=tmp_path, env=mlflow_env)
    assert proc.returncode == 0, proc.stderr

    run = tracked_run(client, mlflow_env["MLFLOW_EXPERIMENT_NAME"], out)
    assert run.info.status == "FINISHED" and run.info.run_name == "train"
    params = run.data.params
    assert params["optimizer.lr"] == "0.01" and params["optimizer"] == "!torch.optim.Adam"
    assert params["model.0.in_features"] == "64" and params["model.2.out_features"] == "10"
    assert params["batch_size"] == "64" and params["metrics"] == "[accuracy]"
    tags = run.data.tags
    assert tags["torchon.version"] == torchon_module.__version__
    assert tags["torchon.config"] == "train" and tags["torchon.runnable"] == "!Trainer"
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["torchon.status"] == "succeeded"
    # every metric the Trainer reported, by step, as the run's own metrics.jsonl has them
    records = _jsonl(out / "metrics.jsonl")
    for metric in ("train_loss", "val_loss", "val_accuracy", "lr"):
        want = [(r["step"], r[metric]) for r in records if metric in r]
        got = history(client, run, metric)
        assert [s for s, _ in got] == [1, 2, 3], (metric, got)
        assert all(math.isclose(a, b, rel_tol=1e-6) for (_, a), (_, b) in zip(got, want)), (metric, got, want)
    assert artifacts(client, run) >= {"config.yaml", "torchon.lock", "run.json"}
    assert json.loads((out / "run.json").read_text())["track"] == "mlflow"
    assert not children(client, run)


SEARCH = """
!Search
trial: !mltoy.Train
  lr: !grid [0.05, 0.06, 0.05, 0.9, 0.8, 0.95]
  width: 4
  epochs: 4
metric: loss
pruner: median
max_concurrent: 1
"""


def test_a_search_is_a_parent_run_with_a_run_per_trial(
    tmp_path: Path, mlflow_env: dict[str, str], client: Any
) -> None:
    pytest.importorskip("torchon_search")
    config = write_config(tmp_path, SEARCH)
    out = tmp_path / "out"
    proc = torchon("run", config, "--track", "mlflow", "-o", out, cwd=tmp_path, env=mlflow_env)
    assert proc.returncode == 0, proc.stderr

    parent = tracked_run(client, mlflow_env["MLFLOW_EXPERIMENT_NAME"], out)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["trial.lr"] == "!grid [0.05, 0.06, 0.05, 0.9, 0.8, 0.95]"
    assert parent.data.params["metric"] == "loss"
    assert artifacts(client, parent) >= {
        "config.yaml",
        "torchon.lock",
        "run.json",
        "results.csv",
        "report.html",
    }
    rows = _rows(out / "results.csv")
    best = min(float(r["loss"]) for r in rows if r["status"] == "completed")
    [(step, value)] = history(client, parent, "best")
    assert step == len(rows) and math.isclose(value, best)

    trials = {r.data.tags["torchon.trial.number"]: r for r in children(client, parent)}
    assert sorted(trials, key=int) == [r["trial"] for r in rows]
    assert any(r["status"] == "pruned" for r in rows), rows  # the bad trials come after good ones: pruned
    status = {"completed": "FINISHED", "pruned": "KILLED"}
    for row in rows:
        trial = trials[row["trial"]]
        assert trial.data.params == {"lr": row["lr"]}
        assert trial.data.tags["torchon.trial.status"] == row["status"]
        assert trial.data.tags["torchon.trial.key"] == row["key"]
        assert trial.info.status == status[row["status"]], (row, trial.info.status)
        steps = history(client, trial, "loss")
        assert [s for s, _ in steps] == list(range(1, int(row["steps"]) + 1))
        if row["loss"]:
            assert math.isclose(steps[-1][1], float(row["loss"]))


@pytest.mark.slow
def test_the_quickstart_experiment_nests_stages_and_trials(
    tmp_path: Path, mlflow_env: dict[str, str], client: Any
) -> None:
    pytest.importorskip("torchon_search")
    pytest.importorskip("torchon_torch")
    out = tmp_path / "out"
    proc = torchon(
        "run", REPO / "examples" / "digits" / "experiment.yaml", "--track", "mlflow", "-o", out,
        cwd=tmp_path, env=mlflow_env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr

    parent = tracked_run(client, mlflow_env["MLFLOW_EXPERIMENT_NAME"], out)
    assert parent.info.status == "FINISHED" and parent.data.tags["torchon.runnable"] == "!Experiment"
    assert parent.data.params["pipeline.train.optimizer.lr"] == "!loguniform [0.0001, 0.03]"
    assert artifacts(client, parent) >= {
        "results.csv",
        "report.html",
        "config.yaml",
        "run.json",
        "torchon.lock",
    }
    stages = {r.info.run_name: r for r in children(client, parent)}
    assert set(stages) == {"train", "test"}
    rows = _rows(out / "results.csv")
    for name, stage in stages.items():
        mine = [r for r in rows if r["stage"] == name]
        trials = {r.data.tags["torchon.trial.number"]: r for r in children(client, stage)}
        assert sorted(trials, key=int) == sorted((r["trial"] for r in mine), key=int), name
        for row in mine:
            trial = trials[row["trial"]]
            assert trial.data.tags["torchon.stage"] == name
            assert trial.data.tags["torchon.trial.status"] == row["status"]
    train = _rows(out / "train" / "results.csv")
    completed = [float(r["val_accuracy"]) for r in train if r["status"] == "completed"]
    assert history(client, stages["train"], "best_val_accuracy") == [(0, max(completed))]
    columns = list(train[0])
    searched = columns[columns.index("val_accuracy") + 1 : columns.index("seconds")]  # the table's params
    assert len(searched) == 2  # the width (written once, used twice) and the learning rate
    by_number = {r.data.tags["torchon.trial.number"]: r for r in children(client, stages["train"])}
    for row in train:
        trial = by_number[row["trial"]]
        assert trial.data.params == {key(c): row[c] for c in searched}
        steps = history(client, trial, "val_accuracy")
        assert [s for s, _ in steps] == list(range(1, int(row["steps"]) + 1))
        assert {"train_loss", "lr", "val_loss", "val_accuracy"} <= set(trial.data.metrics)


def test_the_environment_header_turns_tracking_on_and_params_carry_the_overrides(
    tmp_path: Path, mlflow_env: dict[str, str], client: Any
) -> None:
    pytest.importorskip("torchon_torch")
    config = write_config(
        tmp_path, "!Environment {track: mlflow}\n---\n" + TRAIN.lstrip(), "train.yaml", toy=False
    )
    out = tmp_path / "out"
    proc = torchon("run", config, "optimizer.lr=0.02", "max_steps=2", "-o", out, cwd=tmp_path, env=mlflow_env)
    assert proc.returncode == 0, proc.stderr
    run = tracked_run(client, mlflow_env["MLFLOW_EXPERIMENT_NAME"], out)
    assert run.data.params["optimizer.lr"] == "0.02" and run.data.params["max_steps"] == "2"
    assert [s for s, _ in history(client, run, "train_loss")] == [1, 2]
