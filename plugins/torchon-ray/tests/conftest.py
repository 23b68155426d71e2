"""torchon-ray's tests: one real Ray head per session, on 127.0.0.1 with token authentication.

The head is ``ray start --head --block`` in a process group of its own, with every port it would otherwise take
at a fixed default chosen free here, so it neither meets nor stops another Ray on the machine; the session ends it
by signalling that group. Tests marked ``ray`` need it; they run with ``-m ray`` (``tox -e ray``) and are skipped
otherwise, so the rest of the suite stays fast.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

if importlib.util.find_spec("torchon_ray") is None or importlib.util.find_spec("ray") is None:
    collect_ignore_glob = ["*"]  # torchon-ray is not installed here (the README's environment)

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "ray" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(
        reason="torchon-ray's tests (a real Ray head) run with -m ray, as tox -e ray does"
    )
    for item in items:
        if item.get_closest_marker("ray") is not None:
            item.add_marker(skip)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass(frozen=True)
class RayHead:
    """A running head: its GCS address (for ``RAY_ADDRESS``), its Jobs API address and its token."""

    address: str
    dashboard: str
    token: str

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a ``torchon`` child that joins this head."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "TORCHON_"))}
        env.update(RAY_ADDRESS=self.address, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token)
        env.update(extra)
        return env


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    ray_exe = Path(sys.executable).with_name("ray")
    gcs, dashboard, client, agent, agent_grpc, metrics, runtime_env = _free_ports(7)
    token = secrets.token_hex(16)
    temp = tempfile.mkdtemp(prefix="trh", dir="/tmp")  # Ray's socket paths must stay short
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # jobs run this `python`
    )
    command = [
        str(ray_exe), "start", "--head", "--block", "--disable-usage-stats",
        "--node-ip-address", "127.0.0.1", "--port", str(gcs),
        "--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
        "--ray-client-server-port", str(client), "--dashboard-agent-listen-port", str(agent),
        "--dashboard-agent-grpc-port", str(agent_grpc), "--metrics-export-port", str(metrics),
        "--runtime-env-agent-port", str(runtime_env),
        "--num-cpus", "2", "--num-gpus", "0", "--object-store-memory", str(150 * 1024 * 1024),
        "--temp-dir", temp,
    ]  # fmt: skip
    log = open(Path(temp) / "head.log", "wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    head = RayHead(f"127.0.0.1:{gcs}", f"http://127.0.0.1:{dashboard}", token)
    try:
        _wait_for_jobs_api(head, proc, Path(temp) / "head.log")
        yield head
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the head's group is left
        except ProcessLookupError:
            pass
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_jobs_api(head: RayHead, proc: subprocess.Popen[bytes], log: Path) -> None:
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the Ray head exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            JobSubmissionClient(head.dashboard, headers={"Authorization": f"Bearer {head.token}"}).list_jobs()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
