"""The seeds' Builder and a Verta-style class model, end to end against a real S3 server (moto's, on 127.0.0.1):
train with ``torchon run``, export with ``torchon run``, load and predict in other processes, serve the bundle
with ``torchon serve`` and call it over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torchon_s3")
pytest.importorskip("torchon_export")

from torchon_s3.testing import MotoServer, free_port

EXTENSION = '''
from pathlib import Path

import numpy as np

import torchon


class MyBinaryClassifier(torchon.Component):
    """Logistic regression on two features."""

    def __init__(self, lr: float = 0.5) -> None:
        self.lr = lr
        self.weights = np.zeros(2)

    def fit(self, x, y, steps: int = 200):
        for _ in range(steps):
            p = 1 / (1 + np.exp(-(x @ self.weights)))
            self.weights -= self.lr * x.T @ (p - y) / len(y)
        return self

    def predict(self, rows):
        x = np.asarray(rows, dtype=float)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"expected rows of 2 numbers, got shape {x.shape}")
        return (x @ self.weights > 0).astype(int).tolist()


class Train(torchon.Runnable):
    def __init__(self, model: MyBinaryClassifier, seed: int = 0) -> None:
        self.model = model
        self.seed = seed

    def run(self) -> None:
        rng = np.random.default_rng(self.seed)
        x = rng.normal(size=(300, 2))
        self.model.fit(x, (x[:, 0] - x[:, 1] > 0).astype(float))
        torchon.save(self.model, Path(torchon.get_env().output_dir) / "model")


class ClassifierEngine(torchon.Component):
    def __init__(self, model: MyBinaryClassifier) -> None:
        self.model = model

    def predict(self, rows):
        return {"labels": self.model.predict(rows)}


class TextModel(torchon.Component):
    """Verta's class model: artifacts in, predict out."""

    def __init__(self, artifacts: dict) -> None:
        self.artifacts = artifacts
        self.vocab = Path(artifacts["vocab"]).read_text().split()
        self.weights = np.load(artifacts["weights"])

    def get_state(self):
        return {}

    def predict(self, texts):
        index = {w: i for i, w in enumerate(self.vocab)}
        return [float(sum(self.weights[index[w]] for w in t.split() if w in index)) for t in texts]
'''

ROWS = [[2.0, -1.0], [-1.0, 2.0], [0.5, 0.0]]
TEXTS = ["good film", "bad plot", "good good"]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto S3 server with buckets ``my-bucket`` and ``artifacts``; gives the environment pointing at it."""
    import boto3

    log = tmp_path_factory.mktemp("moto") / "server.log"
    with MotoServer(log=log) as server:
        env = {
            "AWS_ENDPOINT_URL": server.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        client = boto3.client(
            "s3",
            **{"endpoint_url": server.url, "region_name": "us-east-1"},
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for bucket in ("my-bucket", "artifacts"):
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket="artifacts", Key="run-7/vocab.txt", Body=b"good bad plot film\n")
        import io

        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, np.array([1.0, -1.0, 0.25, 0.0]))
        client.put_object(Bucket="artifacts", Key="run-7/weights.npy", Body=buffer.getvalue())
        yield env


@pytest.fixture
def project(tmp_path: Path, s3: dict[str, str]) -> dict[str, Any]:
    (tmp_path / "extension" / "ext").mkdir(parents=True)
    (tmp_path / "extension" / "ext" / "__init__.py").write_text(EXTENSION)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TORCHON_", "AWS_"))}
    env.update(s3)
    env["TORCHON_CACHE_DIR"] = str(tmp_path / "cache")
    return {"root": tmp_path, "env": env}


def torchon(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("torchon")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=180)


def elsewhere(code: str, project: dict[str, Any]) -> Any:
    """Run ``code`` in another process that has the extension installed (importable), as a server would."""
    env = {**project["env"], "PYTHONPATH": str(project["root"] / "extension")}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/", timeout=180
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_the_seeds_builder_to_s3_then_load_and_serve(project: dict[str, Any]) -> None:
    root, env = project["root"], project["env"]
    write(
        root / "train.yaml", "ext: ./extension\n---\n!ext.Train\nmodel: !ext.MyBinaryClassifier {lr: 0.5}\n"
    )
    trained = torchon("run", "train.yaml", "-o", "runs/train", env=env, cwd=root)
    assert trained.returncode == 0, trained.stderr

    write(
        root / "export.yaml",
        f"""
        ext: ./extension
        ---
        !Builder
        storage: s3            # or local
        destination: my-bucket # bucket, bucket/prefix, or a local folder
        component: !ext.ClassifierEngine
          model: !ext.MyBinaryClassifier.load_from_path:
            path: {root / "runs" / "train"}
        """,
    )
    exported = torchon("run", "export.yaml", "-o", "runs/export", env=env, cwd=root)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip().splitlines()[-1] == "s3://my-bucket"

    labels = elsewhere(
        f"import json, torchon; print(json.dumps(torchon.load('s3://my-bucket').predict({ROWS})))", project
    )
    assert labels == {"labels": [1, 0, 1]}

    inspected = torchon("inspect", "s3://my-bucket", env=env, cwd=root)
    assert inspected.returncode == 0 and "verification: ok" in inspected.stdout, inspected.stderr

    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("torchon")),
            "serve",
            "s3://my-bucket",
            "--port",
            str(port),
            "--token",
            "t0k",
        ],
        env={**env, "PYTHONPATH": str(root / "extension")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        from torchon_export import Client, ServeError

        client = Client(f"http://127.0.0.1:{port}", token="t0k")
        deadline = time.monotonic() + 60
        while True:
            try:
                client.health()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()  # type: ignore[union-attr]
                time.sleep(0.2)
        assert client.predict(ROWS) == {"labels": [1, 0, 1]}
        with pytest.raises(ServeError, match="422 bad_input"):
            client.predict([[1.0]])
        assert client.metadata()["uri"] == "s3://my-bucket"
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_class_model_with_s3_artifacts(project: dict[str, Any]) -> None:
    root, env = project["root"], project["env"]
    write(
        root / "verta.yaml",
        """
        ext: ./extension
        ---
        !Exporter
        storage: s3
        destination: my-bucket/models/text
        requirements: [numpy]
        component: !ext.TextModel
          artifacts:
            vocab: !artifact s3://artifacts/run-7/vocab.txt
            weights: !artifact s3://artifacts/run-7/weights.npy
        """,
    )
    exported = torchon("run", "verta.yaml", "-o", "runs/verta", env=env, cwd=root)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip().splitlines()[-1] == "s3://my-bucket/models/text"

    scores = elsewhere(
        "import json, torchon\n"
        "m = torchon.load('s3://my-bucket/models/text')\n"
        "assert m.artifacts['vocab'].startswith(" + repr(str(root / "cache")) + "), m.artifacts\n"
        f"print(json.dumps(m.predict({TEXTS})))",
        project,
    )
    assert scores == [1.0, -0.75, 2.0]

    # the same model built by hand from the artifacts, for local testing
    by_hand = elsewhere(
        "import json, torchon, ext\n"
        "a = torchon.fetch_artifacts('s3://artifacts/run-7', ['vocab.txt', 'weights.npy'])\n"
        "m = ext.TextModel({'vocab': a['vocab.txt'], 'weights': a['weights.npy']})\n"
        f"print(json.dumps(m.predict({TEXTS})))",
        project,
    )
    assert by_hand == scores
