"""Overrides, ``--check`` and ``--print-config`` on the examples, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torchon_torch")
pytest.importorskip("torchon_search")
pytest.importorskip("sklearn")

import torchon.plugins as plugins_module
from torchon.config import load_config
from torchon.config.dump import emit_nodes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRAIN = EXAMPLES / "digits" / "train.yaml"
ALL = sorted(EXAMPLES.rglob("*.yaml"))
# Its header names git and PyPI extensions: checking it needs them installed (tests/e2e/test_seeds.py does).
NEEDS_INSTALL = {EXAMPLES / "seeds" / "flambe_extensions" / "exp.yaml"}


def torchon(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TORCHON_DISABLE_PLUGIN_AUTOLOAD"}
    return subprocess.run(
        [sys.executable, "-m", "torchon", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.fixture
def torch_plugins() -> None:
    plugins_module.set_manager(
        plugins_module.PluginManager.from_options(["torch", "search", "overrides"], autoload=False)
    )


def test_each_override_form_on_the_digits_trainer(torch_plugins: None) -> None:
    import torch

    trainer = (
        load_config(
            TRAIN,
            overrides=[
                "optimizer.lr=0.003",
                "model[0].out_features=256",
                "model[2].in_features=256",
                "+model[3]=!torch.nn.Softmax {dim: 1}",
                "+clip_grad_norm=1.0",
                "~scheduler",
                "max_steps=2",
            ],
        )
        .build()
        .root
    )
    assert trainer.optim.param_groups[0]["lr"] == 0.003
    assert trainer.model[0].out_features == 256 and trainer.model[2].in_features == 256
    assert isinstance(trainer.model[3], torch.nn.Softmax) and trainer.model[3].dim == 1
    assert trainer.clip_grad_norm == 1.0
    assert trainer.sched is None  # removed: the Trainer's default
    assert trainer.max_steps == 2


def test_a_trainer_run_with_overrides_trains_what_they_say(tmp_path: Path) -> None:
    proc = torchon(
        "run", str(TRAIN), "optimizer.lr=0.003", "~scheduler", "max_steps=2", "-o", "out", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2]
    assert all(s["lr"] == 0.003 for s in steps)  # no scheduler: the overridden rate throughout
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["overrides"] == ["optimizer.lr=0.003", "~scheduler", "max_steps=2"]
    assert "scheduler" not in (tmp_path / "out" / "config.yaml").read_text().split("\n", 4)[-1]


def test_a_search_builds_its_trials_with_the_overrides(tmp_path: Path) -> None:
    """Trials are built again in worker processes: they must see the command line's overrides too."""
    proc = torchon(
        "run",
        str(EXAMPLES / "search" / "search.yaml"),
        "num_samples=1",
        "trial.kwargs.width=!grid [8, 24]",
        "trial.kwargs.lr=0.05",
        "trial.kwargs.epochs=1",
        "~pruner",
        "-o",
        "out",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import csv

    with open(tmp_path / "out" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["kwargs.width"] for r in rows) == ["24", "8"]
    assert {r["status"] for r in rows} == {"completed"}
    # the script's loss is |lr - 0.1| + 1 / (epoch * width): lr 0.05 and one epoch, as overridden
    losses = {r["kwargs.width"]: float(r["loss"]) for r in rows}
    assert losses == pytest.approx({"8": 0.05 + 1 / 8, "24": 0.05 + 1 / 24})
    assert {r["steps"] for r in rows} == {"1"}


@pytest.mark.parametrize("config", ALL, ids=[str(p.relative_to(EXAMPLES)) for p in ALL])
def test_check_and_print_config_on_every_example(config: Path, tmp_path: Path) -> None:
    check = torchon("run", str(config), "--check", cwd=tmp_path)
    printed = torchon("run", str(config), "--print-config", cwd=tmp_path)
    if config in NEEDS_INSTALL:
        assert check.returncode == printed.returncode == 2
        assert "--install-extensions" in check.stderr and "Traceback" not in check.stderr
        return
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == f"{config}: ok"
    assert printed.returncode == 0 and printed.stdout == config.read_text()
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    "config", [c for c in ALL if c not in NEEDS_INSTALL], ids=lambda p: str(p.relative_to(EXAMPLES))
)
def test_every_example_written_back_from_its_tree_checks_the_same(config: Path, torch_plugins: None) -> None:
    """What --print-config writes for a config with overrides is the tree written as YAML: for every example, that
    YAML loads to the same tree (written again, the same text)."""
    plugins_module.set_manager(plugins_module.PluginManager.from_options([], autoload=True))
    first = load_config(config)
    text = emit_nodes(first.root, first.header)
    copy = config.with_name(f".{config.stem}.as-run.yaml")  # beside it: relative paths keep their meaning
    try:
        copy.write_text(text)
        second = load_config(copy)
        assert emit_nodes(second.root, second.header) == text
    finally:
        copy.unlink(missing_ok=True)
