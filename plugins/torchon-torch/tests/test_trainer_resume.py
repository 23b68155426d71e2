"""Kill -9 a ``torchon run`` of a Trainer anywhere, resume it with ``--resume``, and get the very same weights.

Each scenario is real processes: ``torchon run`` killed with SIGKILL (from outside at a moment the files show, or
by itself at a chosen point of a checkpoint save), then ``torchon run --resume`` to the end. The final weights,
optimizer state, random generators and counters must equal those of an uninterrupted run, bit for bit
(``torch.equal``). The config makes that hard on purpose: dropout, shuffling, steps ending mid-epoch, gradient
accumulation, a per-update scheduler and clipping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

import torchon

FILES = Path(__file__).parent / "trainer_files"
CONFIG = FILES / "resume.yaml"
DRIVER = FILES / "kill_driver.py"
TIMEOUT = 120


def _env() -> dict[str, str]:
    return {**os.environ, "TORCHON_DISABLE_PLUGIN_AUTOLOAD": "0", "PYTHONHASHSEED": "0"}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "torchon", *args]


def killed_by_itself(mode: str, count: int, *args: str) -> list[str]:
    return [sys.executable, str(DRIVER), mode, str(count), *args]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=_env())


def kill_when(command: list[str], ready: Callable[[], bool], delay: float = 0.0) -> int:
    """Start ``command``, SIGKILL it once ``ready()`` (then ``delay`` seconds); its exit status."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)
    return proc.returncode


def lines(path: Path) -> int:
    try:
        return path.read_text().count("\n")
    except FileNotFoundError:
        return 0


def resume(out: Path) -> None:
    done = run(cli("run", str(CONFIG), "-o", str(out), "--resume"))
    assert done.returncode == 0, done.stderr


def scenario_before_first_checkpoint(out: Path) -> list[int]:
    # as soon as the run folder exists: during setup or the first step, before any checkpoint
    status = kill_when(cli("run", str(CONFIG), "-o", str(out)), lambda: (out / "run.json").exists())
    resume(out)
    return [status]


def scenario_mid_training(out: Path) -> list[int]:
    status = kill_when(
        cli("run", str(CONFIG), "-o", str(out)), lambda: lines(out / "metrics.jsonl") >= 5, delay=0.01
    )
    resume(out)
    return [status]


def scenario_mid_checkpoint_twice(out: Path) -> list[int]:
    # killed just before the 3rd bundle (a best model or a checkpoint), complete in its staging folder, is
    # swapped into place; resumed, and killed again once the 5th safetensors file of a bundle is written (its
    # JSON and manifest are not); resumed to the end
    first = run(killed_by_itself("publish", 3, "run", str(CONFIG), "-o", str(out))).returncode
    second = run(killed_by_itself("write", 5, "run", str(CONFIG), "-o", str(out), "--resume")).returncode
    resume(out)
    return [first, second]


SCENARIOS = {
    "before-first-checkpoint": scenario_before_first_checkpoint,
    "mid-training": scenario_mid_training,
    "mid-checkpoint-twice": scenario_mid_checkpoint_twice,
}


def final_state(out: Path) -> Any:
    from torchon_torch.checkpoint import TrainingState

    return TrainingState.read(out / "checkpoints" / "last")


def assert_same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.slow
def test_killed_anywhere_and_resumed_ends_bit_identical(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reference = tmp_path / "reference"
    with ThreadPoolExecutor(max_workers=3) as pool:
        uninterrupted = pool.submit(run, cli("run", str(CONFIG), "-o", str(reference)))
        futures = {name: pool.submit(fn, tmp_path / name) for name, fn in SCENARIOS.items()}
        assert uninterrupted.result().returncode == 0, uninterrupted.result().stderr
        statuses = {name: future.result() for name, future in futures.items()}
    for name, codes in statuses.items():
        assert all(code == -signal.SIGKILL for code in codes), f"{name}: not killed ({codes})"

    expected = final_state(reference)
    assert expected.progress["steps_done"] == 12
    for name in SCENARIOS:
        got = final_state(tmp_path / name)
        assert_same(got.model, expected.model, f"{name}: model")
        assert_same(got.optimizer, expected.optimizer, f"{name}: optimizer")
        assert_same(got.scheduler, expected.scheduler, f"{name}: scheduler")
        assert_same(got.rng, expected.rng, f"{name}: rng")
        assert_same(got.progress, expected.progress, f"{name}: counters")
        # the best model is the one of the best step: the same weights as the reference's best
        got_best, expected_best = torchon.load(tmp_path / name / "best"), torchon.load(reference / "best")
        assert_same(got_best.state_dict(), expected_best.state_dict(), f"{name}: best model")
        leftovers = [*(tmp_path / name).glob(".*"), *(tmp_path / name / "checkpoints").glob(".*")]
        assert not leftovers, f"{name}: staging folders left behind: {leftovers}"
