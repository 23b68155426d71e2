"""``!artifact`` values and Verta-style class models: fetched to local paths, carried into bundles' ``artifacts/``
(listed with digests), re-pointed on load, and ``torchon.fetch_artifacts`` for building one by hand."""

from __future__ import annotations

import importlib
import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from export_helpers import child_env, python_child, torchon_cli

import torchon
from torchon.bundle import BundleError, BundleIntegrityError
from torchon.bundle.artifacts import Artifact, fetch
from torchon.bundle.files import digest_bytes

TEXTS = ["good film", "bad film", "good good plot"]


def make_artifacts(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("good bad plot film\n")
    np.save(folder / "weights.npy", np.array([1.0, -1.0, 0.25, 0.0]))
    return folder


def expected() -> list[float]:
    return [1.0, -1.0, 2.25]


def test_a_class_model_from_a_config_exports_loads_and_predicts(corpus: Any, tmp_path: Path) -> None:
    make_artifacts(tmp_path / "project" / "data")
    config = tmp_path / "project" / "export.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            !Exporter
            destination: {tmp_path / "bundle"}
            component: !TextModel
              artifacts:
                vocab: !artifact data/vocab.txt     # relative to this config
                weights: !artifact ./data/weights.npy
            """
        ).lstrip()
    )
    proc = torchon_cli("run", str(config), "-o", str(tmp_path / "run"), env=child_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    shutil.rmtree(tmp_path / "project")  # the bundle carries its artifacts: the originals can go

    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert {"artifacts/vocab.txt", "artifacts/weights.npy"} <= set(manifest["files"])
    vocab = (tmp_path / "bundle" / "artifacts" / "vocab.txt").read_bytes()
    assert manifest["files"]["artifacts/vocab.txt"]["blake3"] == digest_bytes(vocab)
    assert manifest["requirements"] == {"torchon": torchon.__version__}  # the kernel provides !artifact
    assert "!artifact artifacts/vocab.txt" in (tmp_path / "bundle" / "config.yaml").read_text()

    script = f"import torchon; m = torchon.load({str(tmp_path / 'bundle')!r}); print(m.predict({TEXTS!r})); print(m.artifacts['vocab'])"
    other = python_child(script, child_env(tmp_path))
    assert other.returncode == 0, other.stderr
    outputs, where = other.stdout.strip().splitlines()
    assert outputs == str(expected())
    assert where == str(tmp_path / "bundle" / "artifacts" / "vocab.txt")  # re-pointed to the bundle's copy


def test_fetch_artifacts_builds_a_class_model_by_hand(corpus: Any, tmp_path: Path) -> None:
    make_artifacts(tmp_path / "run-7")
    artifacts = torchon.fetch_artifacts(str(tmp_path / "run-7"), ["vocab.txt", "weights.npy"])
    assert set(artifacts) == {"vocab.txt", "weights.npy"}
    assert isinstance(artifacts["vocab.txt"], Artifact) and Path(artifacts["vocab.txt"]).is_file()
    model = corpus.TextModel({"vocab": artifacts["vocab.txt"], "weights": artifacts["weights.npy"]})
    assert model.predict(TEXTS) == expected()
    assert "!artifact " + str(tmp_path / "run-7" / "vocab.txt") in model.to_yaml()

    torchon.save(model, tmp_path / "b")
    (tmp_path / "run-7" / "vocab.txt").write_text("changed after saving\n")
    assert torchon.load(tmp_path / "b").predict(TEXTS) == expected()
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        torchon.fetch_artifacts(str(tmp_path / "run-7"), ["missing.bin"])


def test_folder_artifacts_and_shared_files(corpus: Any, tmp_path: Path) -> None:
    folder = make_artifacts(tmp_path / "assets")
    (folder / "nested").mkdir()
    (folder / "nested" / "note.txt").write_text("n")
    assets = fetch(str(folder))
    model = corpus.TextModel(
        {
            "vocab": fetch(str(folder / "vocab.txt")),
            "weights": fetch(str(folder / "weights.npy")),
            "assets": assets,
            "again": assets,  # one folder named twice is carried once
        }
    )
    torchon.save(model, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    carried = sorted(n for n in manifest["files"] if n.startswith("artifacts/"))
    assert carried == [
        "artifacts/assets/nested/note.txt",
        "artifacts/assets/vocab.txt",
        "artifacts/assets/weights.npy",
        "artifacts/vocab.txt",
        "artifacts/weights.npy",
    ]
    loaded = torchon.load(tmp_path / "b")
    assert Path(loaded.artifacts["assets"], "nested", "note.txt").read_text() == "n"
    assert loaded.artifacts["again"] == loaded.artifacts["assets"]
    assert loaded.predict(TEXTS) == expected()


def test_an_altered_artifact_is_refused(corpus: Any, tmp_path: Path) -> None:
    make_artifacts(tmp_path / "a")
    model = corpus.TextModel(
        {
            "vocab": fetch(str(tmp_path / "a" / "vocab.txt")),
            "weights": fetch(str(tmp_path / "a" / "weights.npy")),
        }
    )
    torchon.save(model, tmp_path / "b")
    (tmp_path / "b" / "artifacts" / "vocab.txt").write_text("good bad plot evil\n")  # same size, other bytes
    with pytest.raises(BundleIntegrityError, match=r"artifacts/vocab\.txt does not match its blake3 digest"):
        torchon.load(tmp_path / "b")


def test_a_bundle_that_requires_torchon_export_for_its_artifacts_loads_without_it(
    corpus: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bundles saved while torchon-export registered ``!artifact`` list it among their requirements."""
    load_module = importlib.import_module("torchon.bundle.load")  # the module, not the function it exports

    make_artifacts(tmp_path / "a")
    model = corpus.TextModel(
        {
            "vocab": fetch(str(tmp_path / "a" / "vocab.txt")),
            "weights": fetch(str(tmp_path / "a" / "weights.npy")),
        }
    )
    torchon.save(model, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    manifest["requirements"]["torchon-export"] = "0.1.0"
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    installed = load_module.installed_version
    monkeypatch.setattr(
        load_module, "installed_version", lambda d: None if d == "torchon-export" else installed(d)
    )
    assert torchon.load(tmp_path / "b").predict(TEXTS) == expected()

    manifest["requirements"]["scikit-learn"] = "1.5.0"  # what is required for other reasons is still required
    monkeypatch.setattr(
        load_module,
        "installed_version",
        lambda d: None if d in ("torchon-export", "scikit-learn") else installed(d),
    )
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"needs scikit-learn==1\.5\.0, which is not installed"):
        torchon.load(tmp_path / "b")


def test_a_bundle_may_not_point_outside_itself(corpus: Any, tmp_path: Path) -> None:
    make_artifacts(tmp_path / "a")
    model = corpus.TextModel(
        {
            "vocab": fetch(str(tmp_path / "a" / "vocab.txt")),
            "weights": fetch(str(tmp_path / "a" / "weights.npy")),
        }
    )
    torchon.save(model, tmp_path / "b")
    config = (tmp_path / "b" / "config.yaml").read_text()
    config = config.replace("!artifact artifacts/vocab.txt", f"!artifact {tmp_path / 'a' / 'vocab.txt'}")
    (tmp_path / "b" / "config.yaml").write_text(config)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    manifest["files"]["config.yaml"] = {"size": len(config.encode()), "blake3": digest_bytes(config.encode())}
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="a bundle's artifacts must be inside it"):
        torchon.load(tmp_path / "b")
