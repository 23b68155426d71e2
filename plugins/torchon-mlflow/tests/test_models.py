"""Bundles as MLflow models: registered with ``torchon.save``, loaded back through ``models:/`` and ``runs:/`` with
every digest checked, loaded by ``mlflow.pyfunc``, served by ``mlflow models serve``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow_helpers import TOY, torchon, tracked_run, unique, write_config

import torchon as torchon_module
from torchon.api import BundleIntegrityError, StorageError
from torchon_mlflow.testing import MlflowServer, ModelServer

ROWS = [[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]


@pytest.fixture(scope="module")
def mltoy() -> Any:
    """The test extension, imported once (torchon keeps the classes it resolved: one module for the session)."""
    if str(TOY) not in sys.path:
        sys.path.insert(0, str(TOY))
    import mltoy

    return mltoy


def _model(mltoy: Any, scale: float) -> Any:
    """A model whose weights changed after it was built (trained, say): the bundle saves them as a state file."""
    model = mltoy.Linear(n=3, scale=scale)
    model.weights = model.weights + np.array([0.25, -0.5, 0.125])
    return model


def test_a_bundle_becomes_a_registered_model_version(
    mlflow_env: dict[str, str], client: Any, mltoy: Any
) -> None:
    name = unique("linear")
    first, second = _model(mltoy, 1.0), _model(mltoy, 2.0)
    torchon_module.save(first, f"mlflow://{name}")
    torchon_module.save(second, f"mlflow://{name}@champion")

    versions = {v.version: v for v in client.search_model_versions(f"name = '{name}'")}
    assert set(versions) == {"1", "2"}
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert torchon_module.load(f"mlflow://{name}/1").predict(ROWS) == first.predict(ROWS)
    assert torchon_module.load(f"mlflow://{name}@champion").predict(ROWS) == second.predict(ROWS)
    assert torchon_module.load(f"mlflow://{name}").predict(ROWS) == second.predict(ROWS)  # the latest

    with pytest.raises(
        StorageError, match=r"there is no version 7 of registered model .* \(it has versions 1, 2\)"
    ):
        torchon_module.load(f"mlflow://{name}/7")
    with pytest.raises(StorageError, match="the registry numbers versions itself"):
        torchon_module.save(first, f"mlflow://{name}/3")


def test_models_and_runs_uris_load_with_every_digest_checked(
    mlflow_env: dict[str, str], client: Any, mltoy: Any, tmp_path: Path
) -> None:
    name = unique("linear")
    model = _model(mltoy, 3.0)
    torchon_module.save(model, f"models:/{name}@champion")
    assert torchon_module.load(f"models:/{name}/1").predict(ROWS) == model.predict(ROWS)
    assert torchon_module.load(f"models:/{name}@champion").predict(ROWS) == model.predict(ROWS)

    run = client.create_run(client.get_experiment_by_name("Default").experiment_id)
    torchon_module.save(model, f"runs:/{run.info.run_id}/bundles/linear")
    assert {a.path for a in client.list_artifacts(run.info.run_id, "bundles/linear")} >= {
        "bundles/linear/manifest.json",
        "bundles/linear/config.yaml",
    }
    assert torchon_module.load(f"runs:/{run.info.run_id}/bundles/linear").predict(ROWS) == model.predict(ROWS)


def _tamper(server: MlflowServer, model_id: str) -> Path:
    """Change one byte of a state file of logged model ``model_id``'s bundle, where the server stores it."""
    stored = sorted(p for p in server.artifacts.rglob("*.npy") if model_id in p.parts)
    assert stored, f"no stored state files of {model_id} under {server.artifacts}"
    data = bytearray(stored[0].read_bytes())
    data[-1] ^= 0xFF  # the same size: only the digest tells
    stored[0].write_bytes(bytes(data))
    return stored[0]


def test_an_altered_model_is_refused(
    mlflow_server: MlflowServer, mlflow_env: dict[str, str], client: Any, mltoy: Any
) -> None:
    """A stored file changed after registration: torchon.load (and so MLflow's pyfunc loader) names it."""
    import mlflow

    name = unique("altered")
    torchon_module.save(_model(mltoy, 1.0), f"mlflow://{name}")
    version = client.get_model_version(name, "1")
    _tamper(mlflow_server, version.model_id or version.source.rsplit("/", 1)[-1])  # source: models:/m-...
    with pytest.raises(BundleIntegrityError, match=r"state/n0/npy/\S+ does not match its blake3 digest"):
        torchon_module.load(f"mlflow://{name}/1")
    with pytest.raises(BundleIntegrityError, match="does not match its blake3 digest"):
        mlflow.pyfunc.load_model(f"models:/{name}/1")


def test_mlflow_pyfunc_loads_and_predicts(mlflow_env: dict[str, str], mltoy: Any) -> None:
    import mlflow
    import pandas as pd

    name = unique("linear")
    model = _model(mltoy, 0.5)
    torchon_module.save(model, f"mlflow://{name}")
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/1")
    assert loaded.predict(np.array(ROWS)) == model.predict(ROWS)
    assert loaded.predict(pd.DataFrame(ROWS, columns=["a", "b", "c"])) == model.predict(ROWS)
    assert isinstance(loaded.unwrap_python_model(), mltoy.Linear)
    meta = loaded.metadata.flavors["python_function"]
    assert meta["loader_module"] == "torchon_mlflow.pyfunc" and meta["data"] == "data/bundle"
    requirements = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/1/requirements.txt")).read_text()
    assert (
        f"torchon=={torchon_module.__version__}" in requirements.split()
        and "torchon-mlflow==0.1.0" in requirements
    )


def test_mlflow_models_serve_answers_over_http(
    mlflow_env: dict[str, str], mltoy: Any, tmp_path: Path
) -> None:
    import httpx

    name = unique("linear")
    model = _model(mltoy, 1.5)
    torchon_module.save(model, f"mlflow://{name}")
    env = {**mlflow_env, "PYTHONPATH": str(TOY)}  # the model's class, importable where it is served
    with ModelServer(f"models:/{name}/1", log=tmp_path / "serve.log", env=env) as served:
        answer = httpx.post(f"{served.url}/invocations", json={"inputs": ROWS}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": model.predict(ROWS)}
        frame = {"dataframe_split": {"columns": ["a", "b", "c"], "data": ROWS}}
        assert httpx.post(f"{served.url}/invocations", json=frame, timeout=30).json()["predictions"] == (
            model.predict(ROWS)
        )
        bad = httpx.post(f"{served.url}/invocations", json={"inputs": [[1.0, 2.0]]}, timeout=30)
        assert bad.status_code >= 400 and "expected rows of 3 numbers" in bad.text


def test_an_exporter_with_storage_mlflow_registers_in_the_tracked_run(
    tmp_path: Path, mlflow_env: dict[str, str], client: Any, mltoy: Any
) -> None:
    pytest.importorskip("torchon_export")
    name = unique("exported")
    config = write_config(
        tmp_path,
        f"""
        !Exporter
        storage: mlflow
        destination: {name}@production
        component: !mltoy.Linear {{n: 3, scale: 2.0}}
        """,
    )
    out = tmp_path / "out"
    proc = torchon("run", config, "--track", "mlflow", "-o", out, cwd=tmp_path, env=mlflow_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "export.json").read_text())["uri"] == f"mlflow://{name}@production"

    run = tracked_run(client, mlflow_env["MLFLOW_EXPERIMENT_NAME"], out)
    version = client.get_model_version_by_alias(name, "production")
    assert version.version == "1" and version.run_id == run.info.run_id
    loaded = torchon_module.load(f"mlflow://{name}@production")
    assert loaded.predict(ROWS) == [sum(x * w for x, w in zip(r, [2.0, 4.0, 6.0])) + 0.5 for r in ROWS]
