"""Test helpers for code that uses MLflow: a real ``mlflow server`` on loopback, and ``mlflow models serve``.

:class:`MlflowServer` runs MLflow's tracking server in a child process on 127.0.0.1, with a SQLite backend store
and a local artifact store it proxies (``--artifacts-destination``), as a team's server would; point MLflow at it
with ``MLFLOW_TRACKING_URI=server.url``. :class:`ModelServer` runs ``mlflow models serve`` of a model URI. Nothing
here is a mock: requests travel over HTTP to servers that store what they are sent.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MlflowServer", "ModelServer", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mlflow_command() -> list[str]:
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
    return [exe] if exe else [sys.executable, "-m", "mlflow"]


def _answers(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


class _Process:
    """A server in a child process of its own session (so stopping it stops its workers too)."""

    name = "server"
    ready_path = "/health"

    def __init__(self, log: Path | None, env: Mapping[str, str] | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log
        self._env = dict(env or {})
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def start(self, timeout: float = 120) -> Any:
        out = open(self._log, "ab") if self._log else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            list(self.command()),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self._env},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                where = f"; its output is in {self._log}" if self._log else ""
                raise RuntimeError(f"{self.name} exited with status {self._proc.returncode}{where}")
            if _answers(self.port, self.ready_path):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not start within {timeout:g} s")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """End the server at once (SIGKILL to its whole process group), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._proc = None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class MlflowServer(_Process):
    """``mlflow server`` on 127.0.0.1: SQLite store and proxied artifacts under ``root``.

    ``with MlflowServer(tmp) as server: os.environ["MLFLOW_TRACKING_URI"] = server.url``. :meth:`kill` ends it as a
    crash would; :meth:`start` again serves the same store on the same port.
    """

    name = "mlflow server"

    def __init__(self, root: Path, *, log: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        # no background job workers (GenAI evaluation jobs): nothing here uses them, and they cost a process
        quiet = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
        super().__init__(log if log is not None else Path(root) / "server.log", quiet)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.artifacts = self.root / "artifacts"

    def command(self) -> Sequence[str]:
        return [
            *_mlflow_command(),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.artifacts),
            "--workers",
            "1",
        ]


class ModelServer(_Process):
    """``mlflow models serve -m MODEL_URI --env-manager local`` on 127.0.0.1; ``POST url + "/invocations"``."""

    name = "mlflow models serve"
    ready_path = "/ping"

    def __init__(
        self, model_uri: str, *, log: Path | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(log, env)
        self.model_uri = model_uri

    def command(self) -> Sequence[str]:
        return [
            *_mlflow_command(),
            "models",
            "serve",
            "-m",
            self.model_uri,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
