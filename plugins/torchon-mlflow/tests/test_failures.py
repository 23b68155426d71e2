"""When the tracking server is down, refuses, hangs, or dies mid-run: the run is never lost.

``--track mlflow`` with no server answering fails at once, writing nothing; a server lost while the run goes on is
reported once, with its URI, and the run ends as it would have, its folder whole."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mlflow_helpers import history, torchon, tracked_run, write_config

from torchon_mlflow.testing import MlflowServer, free_port

TRAIN = """
!mltoy.Train
lr: 0.1
epochs: 40
sleep: 0.1
"""


def _env(uri: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TORCHON_"))}
    env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME="failures", **extra)
    return env


def test_no_server_at_start_fails_at_once_and_writes_nothing(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = write_config(tmp_path, TRAIN)
    started = time.monotonic()
    proc = torchon("run", config, "--track", "mlflow", "-o", tmp_path / "out", cwd=tmp_path, env=_env(uri))
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - started < 60  # no retries: the time is the interpreter's start
    assert f"the MLflow tracking server at {uri} does not answer: cannot reach it" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_tracking_asked_through_the_environment_checks_the_server_too(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, TRAIN)
    proc = torchon(
        "run", config, "-o", tmp_path / "out", cwd=tmp_path, env=_env(uri, TORCHON_TRACKING="mlflow")
    )
    assert proc.returncode == 2 and f"tracking server at {uri} does not answer" in proc.stderr
    # --track none: this run is not tracked, whatever the environment says
    proc = torchon(
        "run", config, "--track", "none", "-o", tmp_path / "out", cwd=tmp_path,
        env=_env(uri, TORCHON_TRACKING="mlflow"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "out" / "run.json").read_text())["track"] == "none"


def test_an_unknown_tracker_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, TRAIN)
    proc = torchon("run", config, "--track", "mlfow", cwd=tmp_path, env=_env("http://127.0.0.1:9"))
    assert proc.returncode == 2
    assert "--track 'mlfow' is not a tracker torchon knows (did you mean mlflow?)" in proc.stderr


class _Refusing(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(403)
        self.end_headers()
        self.wfile.write(b"forbidden")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_server_refusing_the_credentials_fails_at_once(tmp_path: Path, refusing_server: str) -> None:
    config = write_config(tmp_path, TRAIN)
    proc = torchon("run", config, "--track", "mlflow", cwd=tmp_path, env=_env(refusing_server))
    assert proc.returncode == 2
    assert f"tracking server at {refusing_server} does not answer: it refused the credentials (HTTP 403)" in (
        proc.stderr
    )


def test_a_server_that_never_answers_fails_within_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        config = write_config(tmp_path, TRAIN)
        started = time.monotonic()
        proc = torchon(
            "run", config, "--track", "mlflow", cwd=tmp_path, env=_env(uri, TORCHON_MLFLOW_TIMEOUT="2")
        )
    assert proc.returncode == 2 and f"tracking server at {uri} does not answer" in proc.stderr
    assert time.monotonic() - started < 60


def test_the_server_killed_mid_run_loses_nothing_of_the_run(tmp_path: Path) -> None:
    """The server dies while the run reports metrics: the run finishes with status 0 and its whole folder, the
    failure said once with the URI; what reached MLflow before stays there."""
    with MlflowServer(tmp_path / "mlflow") as server:
        env = _env(
            server.url,
            TORCHON_MLFLOW_INTERVAL="0.2",
            TORCHON_MLFLOW_TIMEOUT="20",
            MLFLOW_HTTP_REQUEST_MAX_RETRIES="1",
            MLFLOW_HTTP_REQUEST_TIMEOUT="5",
        )
        config = write_config(tmp_path, TRAIN)
        out = tmp_path / "out"
        proc = subprocess.Popen(
            [sys.executable, "-m", "torchon", "run", str(config), "--track", "mlflow", "-o", str(out)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        metrics = out / "metrics.jsonl"
        while time.monotonic() < deadline and proc.poll() is None:  # a few steps reported and sent
            if metrics.is_file() and len(metrics.read_text().splitlines()) >= 12:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        server.kill()
        _, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr
        failures = [line for line in stderr.splitlines() if "MLflow tracking at" in line]
        assert len(failures) == 1 and server.url in failures[0], stderr
        record = json.loads((out / "run.json").read_text())
        assert record["status"] == "succeeded" and record["exit_code"] == 0
        assert len(metrics.read_text().splitlines()) == 40
        assert (out / "config.yaml").is_file() and (out / "torchon.lock").is_file()
        assert "MLflow tracking at" in (out / "logs" / "run.log").read_text()

        server.start()  # the same store again: what was sent before the crash is there
        from mlflow import MlflowClient

        client = MlflowClient(server.url)
        run = tracked_run(client, "failures", out)
        sent = history(client, run, "loss")
        assert 1 <= len(sent) < 40 and [s for s, _ in sent] == list(range(1, len(sent) + 1))
        assert run.info.status == "RUNNING"  # it could not be told the end
