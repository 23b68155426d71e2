"""``torchon submit`` against a real Ray head with token authentication, through the Ray Jobs API."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ray_helpers import TESTS, results, torchon, write_config

pytestmark = pytest.mark.ray

SEARCH = """
!Search
trial: !raytoy.Fit
  weights: !raytoy.Weights {size: !grid [1, 3]}
  rate: !grid [0.1, 0.3]
metric: loss
max_concurrent: 2
executor: ray
"""


def _client(head):  # type: ignore[no-untyped-def]
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(head.dashboard, headers={"Authorization": f"Bearer {head.token}"})


def test_submit_ships_a_local_extension_runs_to_completion_and_is_not_duplicated(
    ray_head, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ext = tmp_path / "ext"  # a local extension outside any installed package: it must travel with the job
    shutil.copytree(TESTS / "raytoy", ext / "raytoy")
    cfg = write_config(tmp_path, SEARCH, ext="./ext")
    env = ray_head.env()
    env.pop("RAY_ADDRESS")  # the submitter knows only the Jobs API address and the token
    out = tmp_path / "out"
    proc = torchon("submit", cfg, "--cluster", ray_head.dashboard, "-o", out, "--wait", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job_id = proc.stdout.split("submitted ", 1)[1].split(";")[0]
    assert job_id.startswith("torchon-exp-") and f"{job_id}: SUCCEEDED" in proc.stdout
    assert [r["status"] for r in results(out)] == ["completed"] * 4
    assert (out / "best" / "manifest.json").is_file() and (out / "report.html").is_file()
    assert 'raytoy: "./_ext/raytoy"' in (out / "config.yaml").read_text()

    again = torchon("submit", cfg, "--cluster", ray_head.dashboard, "-o", out, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{job_id} was submitted before (SUCCEEDED)" in again.stdout
    assert [j.submission_id for j in _client(ray_head).list_jobs()].count(job_id) == 1

    status = torchon("submit", "--status", job_id, "--cluster", ray_head.dashboard, env=env, cwd=tmp_path)
    assert status.returncode == 0 and status.stdout.startswith(f"{job_id}: SUCCEEDED")
    logs = torchon("submit", "--logs", job_id, "--cluster", ray_head.dashboard, env=env, cwd=tmp_path)
    assert "results of search" in logs.stdout


def test_a_wrong_token_is_refused_clearly(ray_head, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = write_config(tmp_path, SEARCH)
    token_file = tmp_path / "token"
    token_file.write_text("not-the-token\n")
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(f"address: {ray_head.dashboard}\ntoken_file: {token_file}\n")
    env = ray_head.env()
    proc = torchon("submit", cfg, "--cluster", cluster, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "refused the token from token_file of" in proc.stderr and "Traceback" not in proc.stderr
    env.pop("RAY_AUTH_TOKEN")
    proc = torchon(
        "submit",
        "--status",
        "x",
        "--cluster",
        ray_head.dashboard,
        env={**env, "HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "requires a token and none was found" in proc.stderr


def test_a_bad_config_fails_before_anything_is_sent(ray_head, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = write_config(tmp_path, SEARCH.replace("!raytoy.Fit", "!raytoy.Fitt"))
    proc = torchon("submit", cfg, "--cluster", ray_head.dashboard, env=ray_head.env(), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{cfg}:4:8: error:" in proc.stderr and "did you mean" in proc.stderr


def test_overrides_are_checked_here_and_shipped_with_the_job(ray_head, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ext = tmp_path / "ext"
    shutil.copytree(TESTS / "raytoy", ext / "raytoy")
    cfg = write_config(tmp_path, SEARCH, ext="./ext")
    env = ray_head.env()
    bad = torchon("submit", cfg, "trial.rat=0.2", "--cluster", ray_head.dashboard, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("<command line>:1:7: error: trial.rat: no such key (did you mean rate?)")
    assert not _client(ray_head).list_jobs() or all(
        "rat=" not in j.entrypoint for j in _client(ray_head).list_jobs()
    )

    out = tmp_path / "out"
    proc = torchon(
        "submit",
        cfg,
        "--cluster",
        ray_head.dashboard,
        "trial.rate=!grid [0.2]",
        "-o",
        out,
        "--wait",
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = results(out)
    assert [r["status"] for r in rows] == ["completed"] * 2  # one rate, two sizes
    assert {r["rate"] for r in rows} == {"0.2"}
    job_id = proc.stdout.split("submitted ", 1)[1].split(";")[0]
    entry = next(j.entrypoint for j in _client(ray_head).list_jobs() if j.submission_id == job_id)
    assert "'trial.rate=!grid [0.2]'" in entry
