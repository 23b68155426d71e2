"""The package works as a torchon plugin: torchon finds it, the example config runs, the saver round-trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from torchon.bundle.files import ReadFolder, WriteFolder
from torchon.plugins import PluginManager

from {{ cookiecutter.module_name }} import LinearModel, MyTrainer, WeightsSaver

ROOT = Path(__file__).resolve().parents[1]


def test_torchon_discovers_the_plugin() -> None:
    manager = PluginManager.from_options(autoload=True)
    info = manager.plugins.get("{{ cookiecutter.module_name }}")
    assert info is not None, f"no plugin '{{ cookiecutter.module_name }}' among {sorted(manager.plugins)}"
    assert info.loaded, info.error
    assert info.distribution == "{{ cookiecutter.distribution_name }}"
    assert "{{ cookiecutter.module_name }}" in manager.namespaces.names()
    assert "{{ cookiecutter.module_name }}_weights" in manager.savers.names()
    assert not manager.conflicts()


def test_importing_the_plugin_is_cheap() -> None:
    code = (
        "import sys, {{ cookiecutter.module_name }}.plugin; "
        "print(sorted(m for m in sys.modules if m.startswith('{{ cookiecutter.module_name }}.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['{{ cookiecutter.module_name }}.plugin']"


def test_the_trainer_learns_the_line() -> None:
    model = LinearModel()
    trainer = MyTrainer(model, lr=0.5, epochs=500)
    trainer.run()
    assert abs(model.weight - 2) < 0.01 and abs(model.bias - 1) < 0.01
    assert trainer.latest_metrics["loss"] < 1e-4


def test_the_weights_saver_round_trips(tmp_path: Path) -> None:
    model = LinearModel()
    model.weight, model.bias = 2.5, -1.0
    records: dict = {}
    saver = WeightsSaver()
    rest = saver.save(model, model.get_state(), WriteFolder(tmp_path, "model", records))
    assert "weight" not in rest and "bias" not in rest
    back = saver.load(model, rest, ReadFolder(tmp_path, "model", records, where="test bundle"))
    assert back["weight"] == 2.5 and back["bias"] == -1.0


def test_the_example_config_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TORCHON_DISABLE_PLUGIN_AUTOLOAD"}
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "torchon", "run", str(ROOT / "examples" / "train.yaml"), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0] / 100
    lock = json.loads((out / "torchon.lock").read_text())
    assert lock["distributions"]["{{ cookiecutter.distribution_name }}"] == "{{ cookiecutter.version }}"
