"""The plugin's face: what it registers, that starting torchon imports no mlflow, and config values as MLflow
params."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchon.api import PluginManager, UsageError, load_config
from torchon_mlflow.names import config_params, key, param_value
from torchon_mlflow.settings import Settings, requested, wanted
from torchon_mlflow.storage import MlflowStorageError, parse_uri


def test_the_plugin_registers_its_storage_schemes() -> None:
    manager = PluginManager.from_options(["mlflow"], autoload=False)
    assert not manager.failed(), [p.error for p in manager.failed()]
    assert {"mlflow", "models", "runs"} <= set(manager.storage.names())
    assert manager.plugins["mlflow"].distribution == "torchon-mlflow"


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["run", "--help"]])
def test_starting_torchon_imports_no_mlflow(args: list[str]) -> None:
    code = (
        "import sys\nfrom torchon.cli.main import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('MLFLOW=' + ','.join(m for m in sys.modules if m == 'mlflow' or m.startswith('mlflow.')))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TORCHON_", "MLFLOW_"))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "MLFLOW="
    if args == ["run", "--help"]:
        assert "--track TRACKER" in proc.stdout


def test_tracking_is_asked_by_the_option_or_the_environment() -> None:
    assert requested(None, {}) is None
    assert requested("mlflow", {}) == "mlflow"
    assert requested(None, {"TORCHON_TRACKING": "MLflow"}) == "mlflow"
    assert requested("none", {"TORCHON_TRACKING": "mlflow"}) == "none"
    with pytest.raises(UsageError, match=r"TORCHON_TRACKING 'wandb' is not a tracker torchon knows"):
        requested(None, {"TORCHON_TRACKING": "wandb"})
    assert wanted({"track": "mlflow"}, {})
    assert not wanted({"track": "none"}, {"TORCHON_TRACKING": "mlflow"})
    assert wanted({}, {"TORCHON_TRACKING": "mlflow"})
    assert not wanted({}, {"TORCHON_TRACKING": "bogus"})
    assert Settings.from_env({"TORCHON_MLFLOW_TIMEOUT": "2.5"}).timeout == 2.5
    with pytest.raises(UsageError, match="TORCHON_MLFLOW_INTERVAL='soon' is not a number of seconds"):
        Settings.from_env({"TORCHON_MLFLOW_INTERVAL": "soon"})


def test_names_as_mlflow_takes_them() -> None:
    assert key("model[0].out_features") == "model.0.out_features"
    assert key("pipeline.train.model[2]['w']") == "pipeline.train.model.2._w_"
    assert key("acc@1") == "acc_1" and key("val/loss") == "val/loss" and key("a/../b") == "a/_/b"
    assert len(key("x" * 400)) == 250
    assert param_value(True) == "true" and param_value(None) == "null" and param_value(0.1) == "0.1"
    assert param_value("y" * 7000).endswith("...") and len(param_value("y" * 7000)) == 6000


def test_a_configs_values_become_params(tmp_path: Path) -> None:
    pytest.importorskip("torchon_search")
    toy = Path(__file__).resolve().parent / "mltoy_ext"
    config = tmp_path / "exp.yaml"
    config.write_text(
        f"mltoy: {toy}\n---\n"
        "!Search\n"
        "trial: !mltoy.Train\n"
        "  lr: !loguniform [0.001, 0.1]\n"
        "  width: !grid [2, 4]\n"
        "  epochs: 3\n"
        "metric: loss\n"
        "mode: min\n"
    )
    params = config_params(load_config(config).root)
    assert params == {
        "trial": "!mltoy.Train",
        "trial.lr": "!loguniform [0.001, 0.1]",
        "trial.width": "!grid [2, 4]",
        "trial.epochs": "3",
        "metric": "loss",
        "mode": "min",
    }


@pytest.mark.parametrize(
    ("uri", "what"),
    [
        ("models:/clf/3", ("clf", "3", None, None, "")),
        ("models:/clf@champion", ("clf", None, "champion", None, "")),
        ("models:/clf/latest", ("clf", None, None, None, "")),
        ("mlflow://team/clf", ("team/clf", None, None, None, "")),
        ("mlflow://clf/12", ("clf", "12", None, None, "")),
        ("runs:/0123abc/bundles/best", (None, None, None, "0123abc", "bundles/best")),
    ],
)
def test_uris_name_a_model_version_or_a_run_artifact(uri: str, what: tuple[object, ...]) -> None:
    ref = parse_uri(uri)
    assert (ref.name, ref.version, ref.alias, ref.run_id, ref.path) == what


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/", "no model name"),
        ("runs:/", "no run id"),
        ("models:/clf@", "write models:/NAME@ALIAS"),
        ("s3://bucket/x", "not an mlflow://, models:/ or runs:/ URI"),
    ],
)
def test_uris_that_name_nothing_say_how_to_write_them(uri: str, message: str) -> None:
    with pytest.raises(MlflowStorageError, match=message):
        parse_uri(uri)
