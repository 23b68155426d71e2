"""torchon.report / torchon.log: recorded to the run's metrics file, from this process or a child through a pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import torchon
from torchon import metrics


def test_report_outside_a_run_is_dropped_quietly() -> None:
    torchon.report(step=1, loss=0.5)


def test_report_writes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    recorder = metrics.start_recording(path)
    try:
        torchon.report(step=1, loss=0.5, acc=1)
        torchon.log("lr", 0.01, step=2)
    finally:
        metrics.stop_recording()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(x["step"], {k: v for k, v in x.items() if k not in ("step", "time")}) for x in lines] == [
        (1, {"loss": 0.5, "acc": 1}),
        (2, {"lr": 0.01}),
    ]
    assert len(recorder.history) == 2


def test_records_reach_the_file_within_a_second_on_flush_and_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    recorder = metrics.start_recording(path)
    try:
        for step in (1, 2, 3):
            torchon.report(step=step, loss=0.5)
        written = [json.loads(line)["step"] for line in path.read_text().splitlines()]
        assert written == [1]  # the first at once, the others wait for the flush
        metrics.flush()  # what torchon.save does before a bundle
        assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3]
        assert len(recorder.history) == 3
    finally:
        metrics.stop_recording()
    # a process that ends without stop_recording() loses nothing either
    script = (
        "import sys; from pathlib import Path; import torchon; from torchon import metrics; "
        "metrics.start_recording(Path(sys.argv[1])); [torchon.report(step=s, x=s) for s in range(5)]"
    )
    other = tmp_path / "other.jsonl"
    subprocess.run([sys.executable, "-c", script, str(other)], check=True, timeout=60)
    assert [json.loads(line)["x"] for line in other.read_text().splitlines()] == [0, 1, 2, 3, 4]


def test_bad_metrics_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one metric"):
        torchon.report(step=1)
    with pytest.raises(TypeError, match="must be a number"):
        torchon.report(loss="high")
    with pytest.raises(ValueError, match="reserved"):
        torchon.report(time=3.0)


def test_a_child_process_reports_through_the_pipe() -> None:
    read_fd, write_fd = os.pipe()
    env = {**os.environ, metrics.METRICS_FD_ENV: str(write_fd)}
    code = "import torchon\nfor i in range(3):\n    torchon.report(step=i, loss=1.0 / (i + 1))\n"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, pass_fds=(write_fd,))
    os.close(write_fd)
    with os.fdopen(read_fd) as stream:
        lines = [json.loads(line) for line in stream]
    assert proc.wait(timeout=30) == 0
    assert [(x["step"], x["loss"]) for x in lines] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]


def test_listeners_see_every_report_and_log_until_removed(tmp_path: Path) -> None:
    seen: list[tuple[int | None, dict[str, float]]] = []
    remove = metrics.add_listener(lambda step, values: seen.append((step, values)))
    try:
        torchon.report(step=2, loss=0.5)  # outside a run: not recorded, but listeners hear it
        metrics.start_recording(tmp_path / "metrics.jsonl")
        torchon.log("lr", 0.1)
        metrics.stop_recording()
    finally:
        remove()
    torchon.report(step=3, loss=0.25)
    assert seen == [(2, {"loss": 0.5}), (None, {"lr": 0.1})]
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["lr"] == 0.1


def test_a_failing_listener_does_not_stop_the_report(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(step: int | None, values: dict[str, float]) -> None:
        raise RuntimeError("boom")

    remove = metrics.add_listener(broken)
    try:
        metrics.start_recording(tmp_path / "metrics.jsonl")
        torchon.report(step=1, loss=1.0)
        metrics.stop_recording()
    finally:
        remove()
    assert "listener" in caplog.text
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["loss"] == 1.0
