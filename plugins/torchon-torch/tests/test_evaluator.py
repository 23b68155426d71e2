"""``!Evaluator``: a trained model's loss and metrics, from a bundle or built in the config, written to the run."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch

from torchon.config import loads
from torchon.runner import run_config

FILES = Path(__file__).parent / "trainer_files"

TRAIN = f"""
blobs: {FILES / "blobs.py"}
---
!Trainer
model: !torch.nn.Sequential
  - !torch.nn.Linear {{in_features: 8, out_features: 16}}
  - !torch.nn.ReLU {{}}
  - !torch.nn.Linear {{in_features: 16, out_features: 3}}
train_data: !blobs.Blobs {{n: 96, seed: 1}}
val_data: !blobs.Blobs {{n: 40, seed: 2}}
batch_size: 16
optimizer: !torch.optim.Adam {{lr: 0.02}}
metrics: [accuracy]
val_metric: accuracy
max_steps: 3
progress: false
"""


def test_evaluating_the_best_bundle_gives_the_trainers_best_metrics(manager, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "train.yaml").write_text(TRAIN)
    assert run_config(tmp_path / "train.yaml", output=str(tmp_path / "train")) == 0
    summary = json.loads((tmp_path / "train" / "summary.json").read_text())
    best_step = summary["best"]["step"]
    record = next(
        json.loads(line)
        for line in (tmp_path / "train" / "metrics.jsonl").read_text().splitlines()
        if json.loads(line)["step"] == best_step
    )

    (tmp_path / "eval.yaml").write_text(
        textwrap.dedent(
            f"""
            blobs: {FILES / "blobs.py"}
            ---
            !Evaluator
            model: {tmp_path / "train" / "best"}
            data: !blobs.Blobs {{n: 40, seed: 2}}
            metrics: [!Accuracy {{}}]
            batch_size: 7
            """
        )
    )
    capsys.readouterr()
    assert run_config(tmp_path / "eval.yaml", output=str(tmp_path / "eval")) == 0
    written = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert written["model"] == str(tmp_path / "train" / "best")
    assert written["metrics"]["accuracy"] == record["val_accuracy"]
    assert written["metrics"]["loss"] == pytest.approx(record["val_loss"], rel=1e-6)
    assert "evaluation: loss" in capsys.readouterr().err
    reported = json.loads((tmp_path / "eval" / "metrics.jsonl").read_text().splitlines()[0])
    assert reported["accuracy"] == record["val_accuracy"]


def test_an_evaluator_takes_a_model_built_in_the_config(manager) -> None:  # type: ignore[no-untyped-def]
    text = f"""
    blobs: {FILES / "blobs.py"}
    ---
    !Evaluator
    model: !torch.nn.Linear {{in_features: 8, out_features: 3}}
    data: !blobs.Blobs {{n: 30, seed: 2}}
    metrics: [accuracy]
    """
    evaluator = loads(textwrap.dedent(text)).build().root
    results = evaluator.evaluate()
    assert set(results) == {"loss", "accuracy"} and 0.0 <= results["accuracy"] <= 1.0
    x, y = evaluator.data.tensors
    evaluator.model.cpu()  # device auto: evaluated where CUDA is, if anywhere
    expected = (evaluator.model(x).argmax(1) == y).double().mean().item()
    assert results["accuracy"] == pytest.approx(expected)
    assert results["loss"] == pytest.approx(
        torch.nn.functional.cross_entropy(evaluator.model(x), y).item(), rel=1e-5
    )


def test_an_evaluator_refuses_a_bundle_without_a_model(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import torchon
    from torchon_torch.checkpoint import TrainingState

    torchon.save(TrainingState(), tmp_path / "state")
    text = f"""
    blobs: {FILES / "blobs.py"}
    ---
    !Evaluator
    model: {tmp_path / "state"}
    data: !blobs.Blobs {{n: 30, seed: 2}}
    """
    evaluator = loads(textwrap.dedent(text)).build().root
    with pytest.raises(torchon.RunFailed, match="holds a TrainingState, not a torch model"):
        evaluator.evaluate()
