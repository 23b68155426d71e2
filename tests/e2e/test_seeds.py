"""The seed pages as runnable examples (``examples/seeds/``), each run end to end as its README says, in fresh
processes: ``torchon run`` for training and exporting, ``python`` for loading, ``torchon serve`` called over HTTP
and through ``torchon_export.Client``. Every test checks the predictions (or the values a run writes) against
values computed here, not only exit statuses.

Each example is copied into a temporary folder first, so its runs, bundles and caches never land in the checkout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import Venv

SEEDS = Path(__file__).resolve().parents[2] / "examples" / "seeds"
MADE = ("runs", "bundles", "cache", "mirrors", "wheels", "build", "run-7", "__pycache__", "*.egg-info")


def example(name: str, tmp_path: Path) -> Path:
    """A copy of ``examples/seeds/NAME`` in ``tmp_path``, without anything a previous run made."""
    return Path(shutil.copytree(SEEDS / name, tmp_path / name, ignore=shutil.ignore_patterns(*MADE)))


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: no torchon settings, nothing extra on the import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TORCHON_", "AWS_", "PYTHONPATH"))}
    env["TORCHON_CACHE_DIR"] = str(tmp_path / "cache")
    env.update(extra)
    return env


def torchon(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("torchon")
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=180)
    assert proc.returncode == 0, (
        f"torchon {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


def python(*args: str, cwd: Path, env: dict[str, str]) -> str:
    """Run ``python ARGS`` in a fresh interpreter; its standard output."""
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=180
    )
    assert proc.returncode == 0, f"python {' '.join(args)[:200]} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


@contextmanager
def serving(uri: str, *args: str, cwd: Path, env: dict[str, str]) -> Iterator[str]:
    """``torchon serve URI ARGS`` on a free port of 127.0.0.1, answering /health; gives its URL."""
    with socket.socket() as s:  # a free port on loopback
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("torchon")
    server = subprocess.Popen(
        [str(exe), "serve", uri, "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None:
                    raise AssertionError(
                        f"torchon serve {uri} exited {server.returncode}: {server.stdout.read()}"  # type: ignore[union-attr]
                    ) from None
                assert time.monotonic() < deadline, f"torchon serve {uri} did not answer /health within 60 s"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def post_predict(url: str, inputs: Any) -> Any:
    """POST ``{"inputs": ...}`` to /v1/predict with the standard library, as curl would; the outputs."""
    request = urllib.request.Request(
        url + "/v1/predict",
        data=json.dumps({"inputs": inputs}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        payload = json.loads(answer.read())
    assert payload["version"] == 1, payload
    return payload["outputs"]


def same_outputs(got: list[dict[str, float]], expected: list[dict[str, float]]) -> bool:
    """Lists of ``{"POSITIVE": p, "NEGATIVE": 1 - p}`` equal to float precision."""
    return len(got) == len(expected) and all(g == pytest.approx(e, rel=1e-12) for g, e in zip(got, expected))


def import_file(path: Path, name: str) -> Any:
    """Import ``path`` under ``name`` (not its own module name, so nothing it defines is saved from here)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def refused_then_allowed(uri: str, module: str, result: str, *, cwd: Path, env: dict[str, str]) -> Any:
    """In a fresh process: ``torchon.load(uri)`` (its refusal, ``"Type: message"``, or None), then
    ``obj = torchon.load(uri, allow=[module])`` and ``result`` (a dict expression of ``obj``), as one JSON object."""
    code = (
        "import json, torchon\n"
        "try:\n"
        f"    torchon.load({uri!r})\n"
        "    refused = None\n"
        "except Exception as exc:\n"
        "    refused = f'{type(exc).__name__}: {exc}'\n"
        f"obj = torchon.load({uri!r}, allow=[{module!r}])\n"
        f"print(json.dumps({{'refused': refused, **{result}}}))\n"
    )
    return last_json(python("-c", code, cwd=cwd, env=env))


# -- 1. Flambé's Exporter/Builder --------------------------------------------------------------------------------

FEATURES = [(2.0, -1.0), (-1.0, 2.0), (0.3, 0.1)]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real S3 server (moto's, on 127.0.0.1) with the bucket ``my-bucket``; the settings pointing at it."""
    pytest.importorskip("torchon_s3")
    import boto3

    from torchon_s3.testing import MotoServer

    with MotoServer(log=tmp_path_factory.mktemp("moto") / "server.log") as server:
        env = {
            "AWS_ENDPOINT_URL": server.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="my-bucket")
        yield env


def expected_engine_outputs(folder: Path) -> list[dict[str, float]]:
    """The engine's answers, computed in this process: the classifier trained as train.yaml trains it."""
    inference = import_file(folder / "ext" / "inference" / "__init__.py", "_seed_inference")
    x, y = inference.make_data(500, 0)  # train.yaml: n: 500, seed: 0
    model = inference.MyBinaryClassifier(lr=0.5, epochs=300).fit(x, y)
    engine = inference.ClassifierEngine(model)
    return [engine.predict(feature_1=a, feature_2=b) for a, b in FEATURES]


@pytest.mark.slow
def test_flambe_builder_exports_a_plain_engine_loaded_and_served_with_allow(
    tmp_path: Path, s3: dict[str, str]
) -> None:
    pytest.importorskip("torchon_export")
    ex = example("flambe_builder", tmp_path)
    env = clean_env(tmp_path, **s3)

    torchon("run", "train.yaml", "-o", "runs/train", cwd=ex, env=env)
    assert (ex / "runs" / "train" / "model" / "manifest.json").is_file()
    local = (
        torchon("run", "export.yaml", "-o", "runs/export", cwd=ex, env=env).stdout.strip().splitlines()[-1]
    )
    assert Path(local) == ex / "bundles" / "classifier", local
    remote = torchon("run", "export_s3.yaml", "-o", "runs/export_s3", cwd=ex, env=env).stdout
    assert remote.strip().splitlines()[-1] == "s3://my-bucket"

    expected = expected_engine_outputs(ex)
    assert expected[0]["POSITIVE"] > 0.9 and expected[1]["POSITIVE"] < 0.1, expected  # it learned something
    # the example's own script, as its README runs it
    assert same_outputs(last_json(python("predict.py", cwd=ex, env=env)), expected)
    assert same_outputs(last_json(python("predict.py", "s3://my-bucket", cwd=ex, env=env)), expected)

    elsewhere = tmp_path / "elsewhere"  # not the example's folder, nothing on PYTHONPATH: a fresh process
    elsewhere.mkdir()
    for uri in (local, "s3://my-bucket"):
        got = refused_then_allowed(
            uri,
            "inference",
            f"{{'class': type(obj).__name__, "
            f"'outputs': [obj.predict(feature_1=a, feature_2=b) for a, b in {FEATURES!r}]}}",
            cwd=elsewhere,
            env=env,
        )
        assert got["refused"] is not None, f"{uri}: a plain class loaded without allow="
        assert "allow=['inference']" in got["refused"], got["refused"]
        # with the extension importable, it is refused as the plain class it is
        installed = python(
            "-c",
            f"import torchon\ntry:\n    torchon.load({uri!r})\nexcept Exception as exc:\n    print(exc)\n",
            cwd=elsewhere,
            env={**env, "PYTHONPATH": str(ex / "ext")},
        )
        assert "plain class" in installed and "allow=['inference']" in installed, installed
        assert got["class"] == "ClassifierEngine"
        assert same_outputs(got["outputs"], expected), (uri, got["outputs"], expected)

        from torchon_export.client import Client

        with serving(uri, "--allow", "inference", cwd=elsewhere, env=env) as url:
            over_http = [post_predict(url, {"feature_1": a, "feature_2": b}) for a, b in FEATURES]
            with Client(url) as client:
                through_client = [client.predict(feature_1=a, feature_2=b) for a, b in FEATURES]
        assert same_outputs(over_http, expected), (uri, over_http, expected)
        assert same_outputs(through_client, expected), (uri, through_client, expected)


# -- 2. Verta's class model with two artifacts -------------------------------------------------------------------

WORD_WEIGHTS = {"bad": -1.0, "boring": -0.5, "film": 0.0, "good": 1.0, "great": 2.0, "plot": 0.25}
TEXTS = ["good film", "bad plot", "great great film", "boring", "words it never saw"]


def expected_scores(texts: list[str]) -> list[float]:
    return [sum(WORD_WEIGHTS.get(w, 0.0) for w in text.split()) for text in texts]


@pytest.mark.slow
def test_verta_class_model_exported_with_its_artifacts_loaded_and_served(tmp_path: Path) -> None:
    pytest.importorskip("torchon_export")
    ex = example("verta_class_model", tmp_path)
    env = clean_env(tmp_path)
    python("make_artifacts.py", cwd=ex, env=env)
    uri = torchon("run", "export.yaml", "-o", "runs/export", cwd=ex, env=env).stdout.strip().splitlines()[-1]
    assert Path(uri) == ex / "bundles" / "vocab_model", uri

    # what __init__ builds from its artifacts (a set, an np.load'ed array) is rebuilt on load, not saved as state
    files = json.loads((ex / "bundles" / "vocab_model" / "manifest.json").read_text())["files"]
    assert sorted(files) == ["artifacts/vocab.txt", "artifacts/weights.npy", "config.yaml"], sorted(files)

    shutil.rmtree(ex / "run-7")  # the bundle carries its artifacts: the originals can go
    expected = expected_scores(TEXTS)
    assert expected == [1.0, -0.75, 4.0, -0.5, 0.0]
    assert last_json(python("predict.py", cwd=ex, env=env)) == expected  # as its README runs it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    got = last_json(
        python(
            "-c",
            "import json, torchon\n"
            f"model = torchon.load({uri!r})\n"
            "print(json.dumps({'class': type(model).__name__, 'vocab': sorted(model.vocab),\n"
            f"                  'is_set': isinstance(model.vocab, set), 'scores': model.predict({TEXTS!r})}}))\n",
            cwd=elsewhere,
            env={**env, "PYTHONPATH": str(ex)},  # the class is installed where it is loaded
        )
    )
    assert got == {"class": "VocabModel", "vocab": sorted(WORD_WEIGHTS), "is_set": True, "scores": expected}

    from torchon_export.client import Client

    with serving(uri, cwd=elsewhere, env={**env, "PYTHONPATH": str(ex)}) as url:
        assert post_predict(url, TEXTS) == expected
        with Client(url) as client:
            assert client.predict(["good film", "great plot"]) == expected_scores(["good film", "great plot"])
            assert client.predict(TEXTS) == expected


def test_verta_class_model_as_a_plain_class_loads_with_allow(tmp_path: Path) -> None:
    """docs/seeds.md: Verta's class unchanged (``class VocabModel:``) exports too, and loads with allow=."""
    pytest.importorskip("torchon_export")
    ex = example("verta_class_model", tmp_path)
    source = ex / "verta_model.py"
    text = source.read_text()
    assert "class VocabModel(torchon.Component):" in text
    source.write_text(text.replace("class VocabModel(torchon.Component):", "class VocabModel:"))
    env = clean_env(tmp_path)
    python("make_artifacts.py", cwd=ex, env=env)
    uri = torchon("run", "export.yaml", "-o", "runs/export", cwd=ex, env=env).stdout.strip().splitlines()[-1]
    shutil.rmtree(ex / "run-7")
    got = refused_then_allowed(
        uri, "verta_model", f"{{'scores': obj.predict({TEXTS!r})}}", cwd=tmp_path, env=env
    )
    assert got["refused"] is not None and "allow" in got["refused"], got["refused"]
    assert got["scores"] == expected_scores(TEXTS)


# -- 3. Flambé's extensions header: local path, git folder at a branch, PyPI ------------------------------------


@pytest.mark.slow
def test_flambe_extensions_from_a_local_path_git_and_pypi_with_their_lock(tmp_path: Path) -> None:
    ex = example("flambe_extensions", tmp_path)
    venv = Venv(tmp_path / "venv", ex / "wheels", tmp_path / "cache")
    venv.run("python", "prepare.py", cwd=ex, check=True)  # the stand-in repository and wheel, made for real
    mirror = ex / "mirrors" / "user" / "repo.git"
    commit = subprocess.run(
        ["git", "--git-dir", str(mirror), "rev-parse", "dev"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert list((ex / "wheels").glob("py_extension_pkg-1.0-*.whl"))
    mirrors = {"TORCHON_GIT_MIRRORS": f"https://github.com/={ex / 'mirrors'}/"}

    refused = venv.torchon("run", "exp.yaml", "-o", "runs/first", cwd=ex, **mirrors)
    assert refused.returncode == 2, refused.stderr
    assert "--install-extensions" in refused.stderr and not (ex / "runs" / "first").exists()

    proc = venv.torchon("run", "exp.yaml", "--install-extensions", "-o", "runs/exp", cwd=ex, **mirrors)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((ex / "runs" / "exp" / "result.json").read_text())
    assert result == {"values": [3, 6, 9, 12, 15], "total": 45}  # Numbers(count=5) scaled by 3
    assert last_json(proc.stdout) == result

    lock = json.loads((ex / "runs" / "exp" / "torchon.lock").read_text())
    git_entry = lock["extensions"]["git_ext"]
    assert git_entry["kind"] == "git"
    assert git_entry["url"] == "https://github.com/user/repo"  # as written, not the mirror
    assert (git_entry["ref"], git_entry["subdirectory"], git_entry["commit"]) == ("dev", "sub/folder", commit)
    assert (
        "distribution" not in git_entry
    )  # a plain package folder: used from torchon's cache, not pip-installed
    pypi_entry = lock["extensions"]["pypi_ext"]
    assert (pypi_entry["kind"], pypi_entry["spec"]) == ("pypi", "py-extension-pkg==1.0")
    assert (pypi_entry["distribution"], pypi_entry["version"]) == ("py-extension-pkg", "1.0")
    local_entry = lock["extensions"]["my_ext"]
    assert local_entry["kind"] == "local" and Path(local_entry["path"]) == ex / "my_ext"
    assert lock["distributions"]["py-extension-pkg"] == "1.0"

    # installed now: the next run (same shell settings) installs nothing and records the same commit
    again = venv.torchon("run", "exp.yaml", "-o", "runs/again", cwd=ex, **mirrors)
    assert again.returncode == 0, again.stderr
    assert json.loads((ex / "runs" / "again" / "result.json").read_text()) == result
    relock = json.loads((ex / "runs" / "again" / "torchon.lock").read_text())
    assert relock["extensions"]["git_ext"]["commit"] == commit
    # and the lock replays (its commit taken from torchon's cache of the mirror)
    replay = venv.torchon(
        "run", "exp.yaml", "--locked", "runs/exp/torchon.lock", "-o", "runs/replay", cwd=ex, **mirrors
    )
    assert replay.returncode == 0, replay.stderr
    assert json.loads((ex / "runs" / "replay" / "result.json").read_text()) == result


# -- 4. Neuraxle's saver chain: a queue made in setup(), a full dump, loading by name -----------------------------


def test_neuraxle_savers_full_dump_then_load_by_name(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    ex = example("neuraxle_savers", tmp_path)
    env = clean_env(tmp_path)
    trained = json.loads(python("train.py", cwd=ex, env=env).strip().splitlines()[-1])
    expected = [3 * a - 2 * b + 1 for a, b in [(2.0, 1.0), (-3.0, 0.5)]]  # what train.py's data follow
    assert trained == pytest.approx(expected, abs=1e-9)

    predicted = last_json(python("predict.py", cwd=ex, env=env))  # knows nothing of the pipeline's structure
    assert predicted == pytest.approx(expected, abs=1e-9)
    assert predicted == trained  # the same values, bit for bit

    got = last_json(
        python(
            "-c",
            "import json, queue, numpy as np, torchon\n"
            "p = torchon.load('cache/my_pipeline')\n"
            "scaler, model = p.steps\n"
            "fresh = isinstance(model.outbox, queue.Queue) and model.outbox.empty()\n"
            "p.predict(np.array([[2.0, 1.0]]))\n"
            "print(json.dumps({'steps': [type(s).__name__ for s in p.steps], 'fresh': fresh,\n"
            "                  'queued': model.outbox.qsize(), 'mean': scaler.mean.tolist()}))\n",
            cwd=ex,
            env=env,
        )
    )
    assert got["steps"] == ["StandardScaler", "QueuedLinearModel"]
    assert got["fresh"] and got["queued"] == 1
    assert got["mean"] != [0.0, 0.0] and len(got["mean"]) == 2  # the array training changed came back
    manifest = json.loads((ex / "cache" / "my_pipeline" / "manifest.json").read_text())
    savers = {s["name"]: s["safety"] for node in manifest["nodes"] for s in node["savers"]}
    assert savers.get("queue") == "data", savers
    assert not [f for f in manifest["files"] if f.endswith((".pkl", ".joblib"))]


# -- docs/seeds.md ------------------------------------------------------------------------------------------------


def test_the_seeds_page_python_examples_run(tmp_path: Path) -> None:
    """docs/seeds.md's python blocks, as tests/test_docs_examples.py runs a page's: ``# file: NAME`` blocks are
    written out, the others run in order in one empty folder, each in a fresh interpreter."""
    import re

    pytest.importorskip("torchon_export")  # !artifact and fetch_artifacts come with it
    page = (Path(__file__).resolve().parents[2] / "docs" / "seeds.md").read_text()
    env = {**clean_env(tmp_path), "PYTHONPATH": str(tmp_path)}
    outputs = []
    for code in re.findall(r"```python\n(.*?)```", page, flags=re.S):
        first = code.splitlines()[0]
        if first.startswith("# file: "):
            (tmp_path / first[len("# file: ") :].strip()).write_text(code)
            continue
        outputs.append(python("-c", code, cwd=tmp_path, env=env))
    assert outputs[-1].strip() == "[1.0, -0.75]"
    # the class shown there is the example's, word for word
    shown = (tmp_path / "verta_model.py").read_text().split("\n", 1)[1]
    assert shown in (SEEDS / "verta_class_model" / "verta_model.py").read_text()
