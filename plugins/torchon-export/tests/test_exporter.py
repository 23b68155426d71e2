"""``!Exporter`` / ``!Builder``, ``Component.load_from_path`` and declared requirements, to local storage (S3 is in
tests/e2e/test_export_s3.py), through ``torchon run`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from export_helpers import child_env, python_child, torchon_cli, training_data

import torchon
from torchon.bundle import BundleError, SaveError
from torchon_export.exporter import Builder, Exporter, destination_uri


def test_destination_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert destination_uri("s3", "my-bucket") == "s3://my-bucket"
    assert destination_uri("S3", "my-bucket/models/a/") == "s3://my-bucket/models/a"
    assert destination_uri("s3", "s3://b/p") == "s3://b/p"
    assert destination_uri("local", "out/model") == str(tmp_path / "out" / "model")
    assert destination_uri(None, "s3://b/p") == "s3://b/p"
    assert destination_uri(None, "out") == str(tmp_path / "out")
    assert destination_uri("local", "file:///x/y") == "/x/y"
    with pytest.raises(ValueError, match="storage: local needs a local folder"):
        destination_uri("local", "s3://b")
    with pytest.raises(ValueError, match="storage: s3 does not match"):
        destination_uri("s3", "gs://b")


def builder_config(tmp_path: Path, trained: Path, destination: str, extra: str = "") -> Path:
    config = tmp_path / "export.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            !Builder
            storage: local
            destination: {destination}
            {extra}
            component: !Engine
              threshold: 0.5
              model: !Classifier.load_from_path:
                path: {trained}
            """
        ).lstrip()
    )
    return config


def test_builder_exports_a_bundle_that_loads_elsewhere(corpus: Any, trained: Path, tmp_path: Path) -> None:
    config = builder_config(tmp_path, trained, str(tmp_path / "deploy" / "engine"))
    proc = torchon_cli("run", str(config), "-o", str(tmp_path / "run"), env=child_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    uri = str(tmp_path / "deploy" / "engine")
    assert proc.stdout.strip().splitlines()[-1] == uri
    assert json.loads((tmp_path / "run" / "export.json").read_text())["uri"] == uri

    x, _ = training_data(5, seed=1)
    script = f"import torchon, json; print(json.dumps(torchon.load({uri!r}).predict({x.tolist()!r})['labels'].tolist()))"
    other = python_child(script, child_env(tmp_path))
    assert other.returncode == 0, other.stderr
    expected = torchon.load(trained).predict(x.tolist())
    assert json.loads(other.stdout) == expected

    engine = torchon.load(uri)
    assert type(engine).__name__ == "Engine" and engine.threshold == 0.5
    np.testing.assert_array_equal(engine.model.weights, torchon.load(trained).weights)


def test_builder_in_python_and_the_exporter_alias(corpus: Any, trained: Path, tmp_path: Path, capsys) -> None:
    model = corpus.Classifier.load_from_path(str(trained))
    exporter = Exporter(corpus.Engine(model), destination=str(tmp_path / "e"), storage="local")
    exporter.run()
    assert capsys.readouterr().out.strip() == str(tmp_path / "e")
    assert isinstance(Builder(model, "x"), Exporter)
    assert torchon.load(tmp_path / "e").model.n_features == 2


def test_a_wrong_destination_is_a_config_error_with_its_line(
    corpus: Any, trained: Path, tmp_path: Path
) -> None:
    config = builder_config(tmp_path, trained, "s3://bucket/x")
    proc = torchon_cli("run", str(config), env=child_env(tmp_path))
    assert proc.returncode == 2
    assert "export.yaml:1:1: error: building !Builder failed" in proc.stderr
    assert "storage: local needs a local folder" in proc.stderr


def test_load_from_path_finds_the_object_of_its_class(corpus: Any, trained: Path, tmp_path: Path) -> None:
    engine = corpus.Engine(corpus.Classifier.load_from_path(str(trained)), threshold=0.7)
    torchon.save(engine, tmp_path / "engine")
    again = corpus.Classifier.load_from_path(str(tmp_path / "engine"))  # the classifier inside the engine
    assert type(again) is corpus.Classifier
    np.testing.assert_array_equal(again.weights, engine.model.weights)
    assert corpus.Engine.load_from_path(str(tmp_path / "engine")).threshold == 0.7
    with pytest.raises(TypeError, match=r"holds no TextModel objects .*top object is a Engine"):
        corpus.TextModel.load_from_path(str(tmp_path / "engine"))


def test_load_from_path_takes_a_runs_output(corpus: Any, trained: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "train" / "2024-01-01"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="is a run's output but holds no bundle"):
        corpus.Classifier.load_from_path(str(run))
    torchon.save(torchon.load(trained), run / "checkpoints" / "final")
    assert corpus.Classifier.load_from_path(str(run)).n_features == 2


def test_declared_requirements_are_recorded_and_checked(corpus: Any, trained: Path, tmp_path: Path) -> None:
    from importlib.metadata import version

    config = builder_config(tmp_path, trained, str(tmp_path / "b"), extra="requirements: [numpy>=1.20]")
    proc = torchon_cli("run", str(config), "-o", str(tmp_path / "r1"), env=child_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["requirements"]["numpy"] == version("numpy")

    # what another machine sees when a declared requirement is missing there: refused by name, nothing built
    manifest["requirements"]["torchon-no-such-dist"] = "1.2"
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"needs torchon-no-such-dist==1\.2, which is not installed"):
        torchon.load(tmp_path / "b")

    for bad, message in [
        ("[torchon-no-such-dist]", "is not installed here"),
        ("[numpy<1]", "is not met: numpy"),
    ]:
        config = builder_config(tmp_path, trained, str(tmp_path / "c"), extra=f"requirements: {bad}")
        proc = torchon_cli("run", str(config), "-o", str(tmp_path / f"r-{len(bad)}"), env=child_env(tmp_path))
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "c").exists()


def test_save_refuses_malformed_requirements(corpus: Any, tmp_path: Path) -> None:
    with pytest.raises(SaveError, match="is not a valid requirement"):
        torchon.save(corpus.Classifier(), tmp_path / "x", requirements=["numpy>>1"])


def test_exporter_module_is_cheap() -> None:
    code = "import sys, torchon_export.plugin, torchon_export; print(sorted(m for m in ('fastapi', 'uvicorn', 'boto3') if m in sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert proc.stdout.strip() == "[]", proc.stderr
