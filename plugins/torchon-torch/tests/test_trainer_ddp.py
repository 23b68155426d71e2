"""Data-parallel training with 2 processes on the CPU (gloo), started by the Trainer itself: the same result as one
process, checkpoints and bundles written once, logs from process 0 only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

import torchon

FILES = Path(__file__).parent / "trainer_files"


def run(config: Path, out: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torchon", "run", str(config), "-o", str(out), *more],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "TORCHON_DISABLE_PLUGIN_AUTOLOAD": "0"},
    )


def one_and_two(
    tmp_path: Path, changes: dict[str, str] | None = None
) -> tuple[Path, subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """``ddp.yaml`` (its text with ``changes`` made) run with 1 and with 2 processes at the same time, into
    ``tmp_path/one`` and ``tmp_path/two``; both must succeed. The 2-process config, and the two runs."""
    text = (FILES / "ddp.yaml").read_text().replace("./blobs.py", str(FILES / "blobs.py"))
    for old, new in (changes or {}).items():
        text = text.replace(old, new)
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text(text.replace("processes: 2", "processes: 1"))
    two.write_text(text)
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(run, one, tmp_path / "one"), pool.submit(run, two, tmp_path / "two")]
        single, double = (r.result() for r in runs)
    assert single.returncode == 0, single.stderr
    assert double.returncode == 0, double.stderr
    return two, single, double


@pytest.mark.slow
def test_two_processes_match_one_and_only_process_0_writes(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    two, _, double = one_and_two(tmp_path)

    a = json.loads((tmp_path / "one" / "summary.json").read_text())["metrics"]
    b = json.loads((tmp_path / "two" / "summary.json").read_text())["metrics"]
    assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)
    assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
    assert abs(b["val_accuracy"] - a["val_accuracy"]) <= 1 / 101 + 1e-9
    wa = torchon.load(tmp_path / "one" / "checkpoints" / "last").model
    wb = torchon.load(tmp_path / "two" / "checkpoints" / "last").model
    assert all(torch.allclose(wa[k], wb[k], rtol=1e-4, atol=1e-5) for k in wa)

    # written once, by process 0: the same files as a one-process run
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )
    assert [p.name for p in (tmp_path / "two" / "checkpoints").iterdir()] == ["last"]
    assert len(list((tmp_path / "two" / "tensorboard").iterdir())) == 1  # one events file
    assert len((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()) == 4
    for step in range(1, 5):
        assert double.stderr.count(f"step {step}/4  train_loss") == 1
    assert "process 1" not in double.stderr, double.stderr  # the other process logs warnings and errors only
    assert "started 1 more processes" in double.stderr

    # resuming a finished run starts the processes, trains nothing, and stops them cleanly
    again = run(two, tmp_path / "two", "--resume")
    assert again.returncode == 0, again.stderr
    assert "resumed from" in again.stderr and "step 5" not in again.stderr
    assert "failed" not in again.stderr, again.stderr


@pytest.mark.slow
def test_with_gradient_accumulation_the_update_sums_every_process_gradients(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # the processes skip the all-reduce on all but an update's last batch: its backward must sum all of them
    one_and_two(tmp_path, {"max_steps: 4": "max_steps: 2\ngrad_accumulation: 3"})
    states = [torchon.load(tmp_path / name / "checkpoints" / "last") for name in ("one", "two")]
    assert [s.progress["updates_done"] for s in states] == [2 * 3, 2 * 3]  # 8 batches a step: 3 + 3 + 2
    wa, wb = (s.model for s in states)
    assert all(torch.allclose(wa[k], wb[k], rtol=1e-4, atol=1e-5) for k in wa)


@pytest.mark.parametrize(
    ("device", "gpus", "message"),
    [
        ("auto", 1, "processes: 2 puts each process on a GPU of its own, but 1 GPU is visible here"),
        ("cuda", 0, "device 'cuda' was asked for, but no GPU is visible here; set device: cpu"),
        (
            "cuda",
            1,
            "but 1 GPU is visible here; set processes: 1 or fewer, or device: cpu to train 2 processes",
        ),
        ("cuda:0", 2, "device 'cuda:0' names one GPU"),
        ("auto", 2, None),
        ("cpu", 1, None),
    ],
)
def test_processes_that_would_share_a_gpu_are_refused_before_starting(
    monkeypatch, device, gpus, message
) -> None:  # type: ignore[no-untyped-def]
    from torchon_torch.distributed import check_gpus

    # a machine with `gpus` GPUs, as torch would see it (this one may have none)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    if message is None:
        check_gpus(2, device)
    else:
        with pytest.raises(torchon.RunFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
            check_gpus(2, device)
