"""The Trainer on Ray Train (``executor: ray``) against a real cluster on loopback: a head and two worker nodes.

Each worker node offers one ``trainer_slot`` (a custom Ray resource) that each Trainer process asks for, so the two
processes of a run land on the two worker nodes, never both on the head (checked through Ray's state API).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from ray_helpers import torchon

import torchon as tn

pytestmark = pytest.mark.ray

BLOBS = Path(__file__).resolve().parents[2] / "torchon-torch" / "tests" / "trainer_files" / "blobs.py"

CONFIG = """\
blobs: {blobs}
---
!Trainer
model: !torch.nn.Sequential
  - !torch.nn.Linear {{in_features: 8, out_features: 32}}
  - !torch.nn.Tanh {{}}
  - !torch.nn.Linear {{in_features: 32, out_features: 3}}
train_data: !blobs.Blobs {{n: {n}, seed: 1}}
val_data: !blobs.Blobs {{n: 101, seed: 2}}
batch_size: 32
optimizer: !torch.optim.SGD {{lr: 0.05, momentum: 0.9}}
metrics: [accuracy]
max_steps: {steps}
seed: 5
progress: false
log_interval: 0
processes: 2
device: cpu
{more}
"""

ON_RAY = """\
executor: ray
resources_per_process: {CPU: 1, trainer_slot: 1}
"""


def write(folder: Path, name: str, *, n: int = 512, steps: int = 4, more: str = "") -> Path:
    path = folder / name
    path.write_text(CONFIG.format(blobs=BLOBS, n=n, steps=steps, more=more), encoding="utf-8")
    return path


def weights(bundle: Path | str) -> dict[str, torch.Tensor]:
    return tn.load(bundle).model  # type: ignore[no-any-return]


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), (key, (a[key] - b[key]).abs().max())


STATE = """
import json, sys, ray
from ray.util.state import list_actors, list_nodes
ray.init(address=sys.argv[1], logging_level="ERROR")
actors = list_actors(filters=[("class_name", "=", "RayTrainWorker")], detail=True, limit=1000)
nodes = list_nodes(detail=True, limit=100)
print(json.dumps({
    "workers": [{"id": a.actor_id, "node": a.node_id, "pid": a.pid, "state": a.state} for a in actors],
    "head": [n.node_id for n in nodes if n.is_head_node][0],
}))
"""


def cluster_state(head: Any) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", STATE, head.address],
        env=head.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def two_nodes(ray_head, join_node):  # type: ignore[no-untyped-def]
    join_node(1, {"trainer_slot": 1})
    join_node(1, {"trainer_slot": 1})
    return ray_head


def test_two_ray_train_workers_on_two_nodes_match_two_local_processes(two_nodes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    head = two_nodes
    before = {w["id"] for w in cluster_state(head)["workers"]}
    started = time.monotonic()
    proc = torchon(
        "run", write(tmp_path, "ray.yaml", more=ON_RAY), "-o", tmp_path / "ray", env=head.env(), cwd=tmp_path
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    state = cluster_state(head)
    mine = [w for w in state["workers"] if w["id"] not in before]
    assert len(mine) == 2, state
    nodes = {w["node"] for w in mine}
    assert len(nodes) == 2 and state["head"] not in nodes, state  # one on each worker node
    local = torchon(
        "run", write(tmp_path, "local.yaml"), "-o", tmp_path / "local", env=head.env(), cwd=tmp_path
    )
    assert local.returncode == 0, local.stderr
    assert_same(
        weights(tmp_path / "ray" / "checkpoints" / "last"),
        weights(tmp_path / "local" / "checkpoints" / "last"),
    )
    # the driver reported every step (metrics, log lines); worker 0 wrote the results
    assert len((tmp_path / "ray" / "metrics.jsonl").read_text().splitlines()) == 4
    for step in range(1, 5):  # worker 0's step lines, shown by the driver as a local run shows its own
        assert re.search(rf"step {step}/4  train_loss \S+ .* \(\d+ it in \S+s, \S+ it/s\)", proc.stderr), (
            proc.stderr
        )
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["steps"] == 4 and (tmp_path / "ray" / "final" / "manifest.json").is_file()
    assert (tmp_path / "ray" / "tensorboard").is_dir()
    print(f"ray run: {took:.1f}s")


def test_a_killed_worker_resumes_to_the_same_weights(two_nodes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    head = two_nodes
    steps, n = 8, 8192
    ray_cfg = write(tmp_path, "ray.yaml", n=n, steps=steps, more=ON_RAY + "max_failures: 2\n")
    out = tmp_path / "ray"
    before = {w["id"] for w in cluster_state(head)["workers"]}
    run = subprocess.Popen(
        [sys.executable, "-m", "torchon", "run", str(ray_cfg), "-o", str(out)],
        env=head.env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        metrics = out / "metrics.jsonl"
        while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2):
            assert run.poll() is None and time.monotonic() < deadline, run.stderr and run.stderr.read()
            time.sleep(0.2)
        alive = [w for w in cluster_state(head)["workers"] if w["id"] not in before and w["state"] == "ALIVE"]
        assert len(alive) == 2
        os.kill(alive[-1]["pid"], signal.SIGKILL)
        _, err = run.communicate(timeout=400)
    finally:
        run.kill()
    assert run.returncode == 0, err
    assert "the workers started again and resumed from step" in err, err
    local = torchon(
        "run",
        write(tmp_path, "local.yaml", n=n, steps=steps),
        "-o",
        tmp_path / "local",
        env=head.env(),
        cwd=tmp_path,
    )
    assert local.returncode == 0, local.stderr
    assert_same(weights(out / "checkpoints" / "last"), weights(tmp_path / "local" / "checkpoints" / "last"))
    assert len(metrics.read_text().splitlines()) == steps  # each step reported once


def test_checkpoints_to_s3(two_nodes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torchon_s3")
    pytest.importorskip("moto")
    import boto3

    from torchon_s3.testing import MotoServer

    head = two_nodes
    with MotoServer() as server:
        s3 = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "TORCHON_S3_ENDPOINT_URL": server.url,
        }
        client = boto3.client("s3", endpoint_url=server.url, **{
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"
        })  # fmt: skip
        client.create_bucket(Bucket="runs")
        cfg = write(tmp_path, "ray.yaml", steps=3, more=ON_RAY + "storage: s3://runs/trainer\n")
        proc = torchon("run", cfg, "-o", tmp_path / "ray", env=head.env(**s3), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        keys = {o["Key"] for o in client.list_objects_v2(Bucket="runs")["Contents"]}
        assert "trainer/checkpoints/last/manifest.json" in keys and "trainer/final/manifest.json" in keys, (
            keys
        )
    assert not (tmp_path / "ray" / "checkpoints").exists()  # the checkpoints went to S3 only
    assert (tmp_path / "ray" / "final" / "manifest.json").is_file()  # the results are copied back
    local = torchon(
        "run", write(tmp_path, "local.yaml", steps=3), "-o", tmp_path / "local", env=head.env(), cwd=tmp_path
    )
    assert local.returncode == 0, local.stderr
    final = tn.load(tmp_path / "ray" / "final", allow=["blobs"])
    expected = weights(tmp_path / "local" / "checkpoints" / "last")
    assert_same(final.model.state_dict(), expected)


SEARCH = """\
blobs: {blobs}
---
!Search
trial: !Trainer
  model: !torch.nn.Sequential
    - !torch.nn.Linear {{in_features: 8, out_features: 32}}
    - !torch.nn.Tanh {{}}
    - !torch.nn.Linear {{in_features: 32, out_features: 3}}
  train_data: !blobs.Blobs {{n: 512, seed: 1}}
  val_data: !blobs.Blobs {{n: 101, seed: 2}}
  batch_size: 32
  optimizer: !torch.optim.SGD {{lr: !grid [0.05, 0.02], momentum: 0.9}}
  metrics: [accuracy]
  max_steps: 3
  seed: 5
  progress: false
  log_interval: 0
  device: cpu
  processes: {processes}
  resources_per_process: {{CPU: 1, trainer_slot: 1}}
metric: val_loss
mode: min
executor: ray
"""


def test_search_trials_that_are_two_worker_trainers_on_ray_train(two_nodes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Each trial trains on two Ray Train workers; the cluster has room for one such trial at a time (two
    trainer slots), so the search starts the second trial only when the first has ended."""
    head = two_nodes
    before = {w["id"] for w in cluster_state(head)["workers"]}
    cfg = tmp_path / "search.yaml"
    cfg.write_text(SEARCH.format(blobs=BLOBS, processes=2), encoding="utf-8")
    proc = torchon("run", cfg, "-o", tmp_path / "search", env=head.env(), cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    state = cluster_state(head)
    mine = [w for w in state["workers"] if w["id"] not in before]
    assert len(mine) == 4, state  # two Ray Train workers per trial
    assert {w["node"] for w in mine} == {w["node"] for w in mine} - {state["head"]} and len(
        {w["node"] for w in mine}
    ) == 2, state  # on the two worker nodes, never the head
    trials = sorted((tmp_path / "search" / "trials").iterdir())
    spans = []
    for trial in trials:
        result = json.loads((trial / "result.json").read_text())
        assert result["status"] == "completed" and result["steps"] == 3, result
        assert (trial / "ray-train").is_dir()  # trained by Ray Train, not by processes of the trial's own
        end = (trial / "result.json").stat().st_mtime
        spans.append((end - result["seconds"], end))
    spans.sort()
    assert spans[1][0] >= spans[0][1] - 1.0, spans  # the second trial waited for room
    # a trial's weights are those of the same Trainer run by two local processes
    lr05 = next(
        t for t in trials if json.loads((t / "result.json").read_text())["params"]["optimizer.lr"] == 0.05
    )
    local = torchon(
        "run", write(tmp_path, "local.yaml", steps=3), "-o", tmp_path / "local", env=head.env(), cwd=tmp_path
    )
    assert local.returncode == 0, local.stderr
    trained = tn.load(lr05 / "final", allow=["blobs"])
    assert_same(trained.model.state_dict(), weights(tmp_path / "local" / "checkpoints" / "last"))


def test_a_search_refuses_trials_whose_trainer_processes_cannot_fit(two_nodes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "search.yaml"
    cfg.write_text(SEARCH.format(blobs=BLOBS, processes=3), encoding="utf-8")
    proc = torchon("run", cfg, "-o", tmp_path / "search", env=two_nodes.env(), cwd=tmp_path)
    assert proc.returncode != 0
    assert (
        "a trial's 3 Trainer processes ask for 3 trainer_slot in all but the Ray cluster has 2" in proc.stderr
    )
    assert not list((tmp_path / "search").glob("trials/*/result.json"))  # no trial started
