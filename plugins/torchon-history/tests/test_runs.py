"""``torchon runs`` and ``torchon compare`` on real run folders: runs that finished, failed, were interrupted with
Ctrl-C, were killed (``kill -9``), and one still running. The commands are found as a user's ``torchon`` finds
them: with plugin autoload on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXTENSION = """
import time
from pathlib import Path

import torchon


class Job(torchon.Runnable):
    def __init__(self, lr: float = 0.1, width: int = 4, fail: bool = False, wait: float = 0.0) -> None:
        self.lr, self.width, self.fail, self.wait = lr, width, fail, wait

    def run(self) -> None:
        Path(torchon.get_env().output_dir, "started").touch()
        time.sleep(self.wait)
        if self.fail:
            raise RuntimeError("boom")
        self.report(step=1, score=self.lr * self.width)

    def best(self):
        score = self.latest_metrics.get("score")
        return None if score is None else {"metric": "score", "value": score, "mode": "max", "at": "step 1"}
"""

CONFIG = "ext: ./ext.py\n---\n!ext.Job\nlr: 0.1\nwidth: 4\n"
ENV = {k: v for k, v in os.environ.items() if k != "TORCHON_DISABLE_PLUGIN_AUTOLOAD"}


def torchon(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torchon", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=120,
    )


def start(cwd: Path, out: str, *overrides: str) -> subprocess.Popen[str]:
    """A run that waits in its runnable, once it has started (its folder and run.json written)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchon", "run", "job.yaml", "+wait=60", *overrides, "-o", out],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (cwd / out / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)
    return proc


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with five runs of job.yaml under runs/job/: done, failed, interrupted, killed, running."""
    cwd = tmp_path_factory.mktemp("history")
    (cwd / "ext.py").write_text(EXTENSION)
    (cwd / "job.yaml").write_text(CONFIG)
    assert torchon("run", "job.yaml", "lr=0.5", "-o", "runs/job/1-done", cwd=cwd).returncode == 0
    assert torchon("run", "job.yaml", "+fail=true", "-o", "runs/job/2-failed", cwd=cwd).returncode == 1
    ctrl_c = start(cwd, "runs/job/3-interrupted")
    ctrl_c.send_signal(signal.SIGINT)
    assert ctrl_c.wait(60) == 130
    killed = start(cwd, "runs/job/4-killed", "width=8")
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(60)
    running = start(cwd, "runs/job/5-running")
    yield cwd
    running.kill()
    running.wait(60)


def test_runs_lists_every_run_with_its_status_and_best(history: Path) -> None:
    proc = torchon("runs", cwd=history)
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split() == ["CONFIG", "STARTED", "DURATION", "STATUS", "BEST", "OUTPUT"]
    assert [r.split()[-1] for r in rows] == [
        f"runs/job/{n}" for n in ("1-done", "2-failed", "3-interrupted", "4-killed", "5-running")
    ]
    by_folder = {r.split()[-1]: r for r in rows}
    assert " done " in by_folder["runs/job/1-done"] and "score=2 (step 1)" in by_folder["runs/job/1-done"]
    assert " failed " in by_folder["runs/job/2-failed"]
    assert " interrupted " in by_folder["runs/job/3-interrupted"]
    assert " interrupted (killed) " in by_folder["runs/job/4-killed"]
    assert " running " in by_folder["runs/job/5-running"]
    assert all(r.startswith("job.yaml ") for r in rows)


def test_runs_json_for_scripts(history: Path) -> None:
    proc = torchon("runs", "--json", cwd=history)
    runs = {Path(r["folder"]).name: r for r in json.loads(proc.stdout)}
    assert {k: (r["status"], r["killed"]) for k, r in runs.items()} == {
        "1-done": ("done", False),
        "2-failed": ("failed", False),
        "3-interrupted": ("interrupted", False),
        "4-killed": ("interrupted", True),
        "5-running": ("running", False),
    }
    assert runs["1-done"]["best"] == {"metric": "score", "value": 2.0, "mode": "max", "at": "step 1"}
    assert runs["1-done"]["overrides"] == ["lr=0.5"] and runs["1-done"]["seconds"] > 0
    assert runs["2-failed"]["error"] == "RuntimeError: boom" and runs["2-failed"]["best"] is None
    assert runs["5-running"]["seconds"] > 0  # so far


def test_runs_of_a_config_or_a_folder(history: Path) -> None:
    by_config = torchon("runs", "job.yaml", "--json", cwd=history)
    by_folder = torchon("runs", "runs/job", "--json", cwd=history)
    one = torchon("runs", "runs/job/1-done", "--json", cwd=history)
    assert len(json.loads(by_config.stdout)) == len(json.loads(by_folder.stdout)) == 5
    assert [Path(r["folder"]).name for r in json.loads(one.stdout)] == ["1-done"]
    other = torchon("runs", "other.yaml", cwd=history)
    assert other.returncode == 0 and "no runs under other.yaml" in other.stderr
    bad = torchon("runs", "nothing-here", cwd=history)
    assert bad.returncode == 2 and "nothing-here is neither a folder nor a config file" in bad.stderr


def test_compare_shows_config_differences_as_overrides(history: Path) -> None:
    proc = torchon("compare", "runs/job/1-done", "runs/job/2-failed", "runs/job/4-killed", cwd=history)
    assert proc.returncode == 0, proc.stderr
    header, first, second, third = proc.stdout.splitlines()
    assert header.split()[:3] == ["RUN", "STATUS", "BEST"]
    assert "done" in first and "score=2 (step 1)" in first and first.endswith("(the reference)")
    assert "failed" in second and second.endswith("lr=0.1 +fail=true")
    assert "interrupted (killed)" in third and third.endswith("lr=0.1 width=8 +wait=60")

    data = json.loads(
        torchon("compare", "runs/job/1-done", "runs/job/2-failed", "--json", cwd=history).stdout
    )
    assert [d["differences"] for d in data] == [[], ["lr=0.1", "+fail=true"]]
    # the differences are overrides: given to the first run's config, they make the second's
    # (beside the config, whose header names its extension by a path relative to it)
    (history / "as_run.yaml").write_text((history / "runs/job/1-done/config.yaml").read_text())
    rerun = torchon("run", "as_run.yaml", *data[1]["differences"], "--print-config", cwd=history)
    assert "fail: true" in rerun.stdout and "lr: 0.1" in rerun.stdout


def test_compare_refuses_what_it_cannot_compare(history: Path) -> None:
    one = torchon("compare", "runs/job/1-done", cwd=history)
    assert one.returncode == 2 and "needs two runs or more" in one.stderr
    missing = torchon("compare", "runs/job/1-done", "runs/nope", cwd=history)
    assert missing.returncode == 2 and "runs/nope is not a run folder" in missing.stderr
    assert "Traceback" not in one.stderr + missing.stderr


def test_the_commands_complete_beside_run(tmp_path: Path) -> None:
    pytest.importorskip("argcomplete")
    out, line = tmp_path / "completions", "torchon ru"
    env = {**ENV, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line))}
    env["_ARGCOMPLETE_STDOUT_FILENAME"] = str(out)
    proc = subprocess.run(
        [sys.executable, "-m", "torchon"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    # two commands: no space after either
    assert sorted(w for w in out.read_text().split("\v") if w) == ["run", "runs"]
