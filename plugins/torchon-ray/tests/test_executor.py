"""``executor: ray`` against a real Ray head: the same search as locally, crashes recorded as locally, hosts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ray_helpers import outcome, results, torchon, trial_env, write_config

pytestmark = pytest.mark.ray

EXPERIMENT = """
!Experiment
pipeline:
  fit: !raytoy.Fit
    weights: !raytoy.Weights {{size: !grid [1, 4]}}
    rate: !uniform [0.0, 0.6]
    rounds: 3
  score: !raytoy.Score {{weights: !@ fit.weights}}
search:
  fit: {{metric: loss, mode: min, algorithm: tpe, num_samples: 3, pruner: asha, seed: 7}}
  score: {{metric: score, mode: max}}
reduce: {{fit: 2}}
max_concurrent: 1
executor: {executor}
"""


def test_seeded_search_gives_the_same_trials_and_best_as_local(ray_head, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runs = {}
    cfg = write_config(tmp_path, EXPERIMENT.format(executor="local"), name="local.yaml")
    # the same file on both: --executor ray on the command line replaces the config's executor: local
    for executor, more in (("local", ()), ("ray", ("--executor", "ray"))):
        proc = torchon("run", cfg, "-o", tmp_path / executor, *more, env=ray_head.env(), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        runs[executor] = tmp_path / executor
    local, ray = runs["local"], runs["ray"]
    assert outcome(ray / "fit") == outcome(local / "fit")
    assert outcome(ray / "score", "score") == outcome(local / "score", "score")
    assert (ray / "best" / "score" / "manifest.json").is_file()
    # torchon.get_env() in a trial on Ray: the cluster's hosts, and the resources the trial holds
    envs = trial_env(ray / "fit")
    assert envs and all(e["hosts"] and e["trial"]["executor"] == "ray" for e in envs)
    assert envs[0]["trial"]["resources"] == {"cpus": 1.0, "gpus": 0}
    assert all(not e["trial"] for e in trial_env(local / "fit"))


CRASHING = """
!Search
trial: !raytoy.Fit
  weights: !raytoy.Weights {{size: !grid [1, 2, 3]}}
  crash: !grid ["", "{crash}"]
  rate: 0.2
metric: loss
max_failures: {max_failures}
max_concurrent: 2
executor: {executor}
"""


def test_a_trial_killed_on_a_worker_is_recorded_as_locally(ray_head, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    got = {}
    for executor in ("local", "ray"):
        cfg = write_config(
            tmp_path,
            CRASHING.format(crash="kill", max_failures=3, executor=executor),
            name=f"{executor}.yaml",
        )
        proc = torchon("run", cfg, "-o", tmp_path / executor, env=ray_head.env(), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        got[executor] = sorted(outcome(tmp_path / executor))
    assert got["ray"] == got["local"]
    failed = [o for o in got["ray"] if o[1] == "failed"]
    assert len(failed) == 3 and {o[3] for o in failed} == {"killed by SIGKILL (out of memory?)"}
    # more failures than max_failures stops the run, on Ray as locally
    cfg = write_config(
        tmp_path, CRASHING.format(crash="kill", max_failures=1, executor="ray"), name="strict.yaml"
    )
    proc = torchon("run", cfg, "-o", tmp_path / "strict", env=ray_head.env(), cwd=tmp_path)
    assert proc.returncode == 1 and "more than max_failures=1" in proc.stderr


def test_a_lost_ray_actor_fails_its_trial_and_the_search_goes_on(ray_head, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = write_config(tmp_path, CRASHING.format(crash="kill_host", max_failures=3, executor="ray"))
    proc = torchon("run", cfg, "-o", tmp_path / "out", env=ray_head.env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = results(tmp_path / "out")
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 3 and all("the Ray actor running it died" in r["error"] for r in failed)
    assert sum(r["status"] == "completed" for r in rows) == 3


WIDE = """
!Search
trial: !raytoy.Fit
  weights: !raytoy.Weights {size: !grid [1, 2, 3, 4]}
  rounds: 1
  pause: 6.0
metric: loss
executor: ray
"""


def most_at_once(out: Path, trials: int) -> int:
    """The most trials that ran at the same time (raytoy's Fit writes when each ran); all ``trials`` must have."""
    spans = [json.loads(p.read_text()) for p in out.glob("trials/*/span.json")]
    assert len(spans) == trials
    return max(sum(start <= t < end for start, end in spans) for t, _ in spans)


def test_without_max_concurrent_trials_fill_the_cluster_not_the_driver_machine(
    ray_head, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # the head offers 4 CPUs, more than a small machine running the driver has: trials used to be capped at the
    # driver machine's CPU count
    proc = torchon(
        "run", write_config(tmp_path, WIDE), "-o", tmp_path / "out", env=ray_head.env(), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert most_at_once(tmp_path / "out", trials=4) >= 3  # all 4 when the machine starts their actors in time


def test_a_node_that_joins_during_a_search_takes_trials(ray_head, join_node, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # 3 waves of 12 s on the head's 4 CPUs: time for a node to join (ray start) on a loaded machine
    wide = WIDE.replace("[1, 2, 3, 4]", "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]").replace(
        "pause: 6.0", "pause: 12.0"
    )
    config = write_config(tmp_path, wide)
    out = tmp_path / "out"
    search = subprocess.Popen(
        [sys.executable, "-m", "torchon", "run", str(config), "-o", str(out)],
        env=ray_head.env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("trials/*/env.json")):  # the search runs on the head alone
            assert search.poll() is None and time.monotonic() < deadline, (
                search.stderr and search.stderr.read()
            )
            time.sleep(0.2)
        join_node(4)
        _, err = search.communicate(timeout=180)
    finally:
        search.kill()
    assert search.returncode == 0, err
    assert most_at_once(out, trials=12) > 4  # more than the head's 4 CPUs: the new node's took trials


def test_the_ray_executor_registers_in_torchon_searchs_table_and_the_plugin_loads_without_it() -> None:
    """``torchon_register_executors`` is torchon-search's hook, loaded after this plugin: the ``ray`` executor still
    lands in its table; without torchon-search the hook is optional, and ``torchon submit`` is still there."""
    from torchon.api import PluginManager

    both = PluginManager.from_options(["ray", "search"], autoload=False)
    assert not both.failed(), [p.error for p in both.failed()]
    assert both.table("executors").get("ray").target == "torchon_ray.executor:RayExecutor"  # type: ignore[union-attr]
    assert both.plugins["ray"].registered == {"executors": ["ray"], "commands": ["submit"]}
    alone = PluginManager.from_options(["ray"], autoload=False)
    assert not alone.failed() and alone.plugins["ray"].registered == {"commands": ["submit"]}
    assert "ray" not in alone.table("executors")
    listing = subprocess.run(
        [sys.executable, "-m", "torchon", "-p", "ray", "plugins"], capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0 and "FAILED" not in listing.stdout, listing.stdout + listing.stderr
