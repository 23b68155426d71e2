"""torchon-ray's tests: one real Ray head per session, on 127.0.0.1 with token authentication.

The head is ``ray start --head --block`` in a process group of its own, with every port it would otherwise take
at a fixed default chosen free here, so it neither meets nor stops another Ray on the machine; the session ends it
by signalling that group. Tests marked ``ray`` need it; they run with ``-m ray`` (``tox -e ray``) and are skipped
otherwise, so the rest of the suite stays fast.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

if importlib.util.find_spec("torchon_ray") is None or importlib.util.find_spec("ray") is None:
    collect_ignore_glob = ["*"]  # torchon-ray is not installed here (the README's environment)

TESTS = Path(__file__).resolve().parent
HEAD_CPUS = 4  # more than a small machine running the driver has: trials fill the cluster, not that machine
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
    temp: str = ""

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
        "--num-cpus", str(HEAD_CPUS), "--num-gpus", "0", "--object-store-memory", str(150 * 1024 * 1024),
        "--temp-dir", temp,
    ]  # fmt: skip
    try:
        with _started(command, env, Path(temp) / "head.log") as (proc, log):
            head = RayHead(f"127.0.0.1:{gcs}", f"http://127.0.0.1:{dashboard}", token, temp)
            _wait_for_jobs_api(head, proc, log)
            yield head
    finally:
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def join_node(ray_head: RayHead) -> Iterator[Callable[[int], None]]:
    """``join_node(cpus, resources)`` starts one more Ray node (on this machine) and returns once the head counts it; the node
    leaves at the end of the test, which waits until the head no longer counts it (the next tests see the cluster
    they expect)."""
    joined: list[tuple[int, Path]] = []  # each node's CPUs and log
    stack = contextlib.ExitStack()

    def join(cpus: int, resources: dict[str, float] | None = None) -> None:
        ray_exe = Path(sys.executable).with_name("ray")
        ports = _free_ports(6)
        command = [
            str(ray_exe), "start", "--block", "--disable-usage-stats", "--address", ray_head.address,
            "--node-ip-address", "127.0.0.1", "--node-manager-port", str(ports[0]),
            "--object-manager-port", str(ports[1]), "--metrics-export-port", str(ports[2]),
            "--dashboard-agent-listen-port", str(ports[3]), "--dashboard-agent-grpc-port", str(ports[4]),
            "--runtime-env-agent-port", str(ports[5]),
            "--num-cpus", str(cpus), "--num-gpus", "0", "--object-store-memory", str(100 * 1024 * 1024),
        ]  # fmt: skip
        if resources:
            command += ["--resources", json.dumps(resources)]
        env = ray_head.env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        env.pop("RAY_ADDRESS")
        _, log = stack.enter_context(_started(command, env, Path(ray_head.temp) / f"node-{ports[0]}.log"))
        joined.append((cpus, log))
        _wait_for_cpus(ray_head, log, HEAD_CPUS + sum(c for c, _ in joined))

    with stack:
        yield join
    if joined:  # stopped: wait until the head no longer counts them
        _wait_for_cpus(ray_head, joined[-1][1])


@contextlib.contextmanager
def _started(
    command: list[str], env: dict[str, str], log_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``ray start --block`` in a process group of its own, ended (its whole group) on leaving."""
    log = open(log_path, "wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc, log_path
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        log.close()


def _wait_for_cpus(head: RayHead, log: Path, cpus: float = HEAD_CPUS) -> None:
    """Wait until the cluster has ``cpus`` CPUs (nodes joined or gone)."""
    script = (
        "import ray, time, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); deadline = time.time() + 90\n"
        "while ray.cluster_resources().get('CPU', 0) != float(sys.argv[2]):\n"
        "    assert time.time() < deadline, ray.cluster_resources(); time.sleep(0.5)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, head.address, str(cpus)],
        env=head.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"the cluster did not reach {cpus} CPUs: {proc.stderr[-2000:]}\n{log.read_text()[-2000:]}"
        )


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
