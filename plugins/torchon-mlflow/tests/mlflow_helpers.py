"""Helpers for torchon-mlflow's tests: a real ``mlflow server`` on 127.0.0.1 (SQLite store, local artifacts;
one per session), an MLflow experiment per test, and ``torchon run`` in a real subprocess."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from torchon_mlflow.testing import MlflowServer

TESTS = Path(__file__).resolve().parent
TOY = TESTS / "mltoy_ext"
REPO = TESTS.parents[2]
_names = itertools.count()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with MlflowServer(tmp_path_factory.mktemp("mlflow")) as server:
        yield server


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


@pytest.fixture
def experiment_name() -> str:
    return unique("exp")


@pytest.fixture
def mlflow_env(
    mlflow_server: MlflowServer, experiment_name: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """This process's environment pointed at the test server and a fresh experiment; what a subprocess gets."""
    for name in [k for k in os.environ if k.startswith(("MLFLOW_", "TORCHON_"))]:
        monkeypatch.delenv(name)
    settings = {
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "MLFLOW_EXPERIMENT_NAME": experiment_name,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "TORCHON_MLFLOW_INTERVAL": "0.2",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return {**os.environ}


@pytest.fixture
def client(mlflow_env: dict[str, str]) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(mlflow_env["MLFLOW_TRACKING_URI"])


def torchon(
    *args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m torchon ARGS`` in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "torchon", *map(str, args)],
        cwd=cwd,
        env={k: v for k, v in env.items() if k != "TORCHON_DISABLE_PLUGIN_AUTOLOAD"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_config(folder: Path, body: str, name: str = "exp.yaml", *, toy: bool = True) -> Path:
    path = folder / name
    header = f"mltoy: {TOY}\n---\n" if toy else ""
    path.write_text(header + textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def tracked_run(client: Any, experiment: str, output: Path) -> Any:
    """The MLflow run of the torchon run whose folder is ``output`` (found by its ``torchon.output`` tag)."""
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r}"
    runs = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`torchon.output` = '{output.resolve()}'"
    )
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


def children(client: Any, run: Any) -> list[Any]:
    """The runs nested directly under ``run``, by name."""
    found = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{run.info.run_id}'"
    )
    return sorted(found, key=lambda r: r.info.run_name)


def history(client: Any, run: Any, metric: str) -> list[tuple[int, float]]:
    return [
        (m.step, m.value)
        for m in sorted(client.get_metric_history(run.info.run_id, metric), key=lambda m: m.step)
    ]


def artifacts(client: Any, run: Any) -> set[str]:
    return {a.path for a in client.list_artifacts(run.info.run_id)}
