"""Kill -9 a process at random points while it saves over an existing bundle: the bundle is always whole."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

import torchon

TESTS = Path(__file__).parent

SAVER = textwrap.dedent(
    """
    import sys
    import torchon
    from bundle_classes import Blob

    dest, version = sys.argv[1], int(sys.argv[2])
    while True:
        torchon.save(Blob(version), dest)
        print(version, flush=True)
        version += 1
    """
)


def _start(dest: Path, version: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS / "corpus")}
    return subprocess.Popen(
        [sys.executable, "-c", SAVER, str(dest), str(version)], stdout=subprocess.PIPE, text=True, env=env
    )


def test_kill_during_save_leaves_the_old_or_the_new_bundle(corpus_manager, tmp_path: Path) -> None:
    from bundle_classes import Blob

    dest = tmp_path / "bundle"
    torchon.save(Blob(0, size=10), dest)
    rng = random.Random(1234)
    completed = 0
    interrupted = 0
    for _ in range(20):
        proc = _start(dest, completed + 1)
        time.sleep(rng.uniform(0.3, 0.9))  # past interpreter start-up, into a save at a random point
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        done = [int(line) for line in out.split()]
        if done:
            completed = done[-1]
        interrupted += any(p.name.startswith(".bundle.tmp-") for p in tmp_path.iterdir())
        loaded = torchon.load(dest)
        # whole: the last completed save, or the one in flight if it was swapped in just before the kill
        assert loaded.version in (completed, completed + 1), (loaded.version, completed)
        assert loaded.data.shape in ((10,), (4_000_000,)) and np.all(loaded.data == loaded.version)
        completed = loaded.version
    assert interrupted >= 5, f"only {interrupted} of 20 kills landed inside a save"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "bundle"]
    torchon.save(Blob(completed + 1, size=10), dest)  # the next save clears what killed saves left behind
    deadline = time.monotonic() + 10  # the replaced bundle itself is deleted in the background
    while [p.name for p in tmp_path.iterdir()] != ["bundle"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"], leftovers
    assert torchon.load(dest).version == completed + 1
