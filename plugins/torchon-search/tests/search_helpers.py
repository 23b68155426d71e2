"""Helpers for torchon-search's tests: configs written on the spot, ``torchon run`` in a real subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
TOY = TESTS / "toy_ext"


def cli_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TORCHON_DISABLE_PLUGIN_AUTOLOAD", "TORCHON_METRICS_FD")
    }
    env.pop("TORCHON_OUTPUT_DIR", None)
    env.update(extra)
    return env


def torchon(
    *args: str | Path, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torchon", *map(str, args)],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_config(folder: Path, body: str, name: str = "exp.yaml") -> Path:
    path = folder / name
    path.write_text(f"toy: {TOY}\n---\n" + textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def results(out: Path) -> list[dict[str, Any]]:
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def trial_results(folder: Path) -> dict[str, dict[str, Any]]:
    """key -> result.json of every trial under ``folder/trials``."""
    return {
        p.parent.name: json.loads(p.read_text()) for p in sorted((folder / "trials").glob("*/result.json"))
    }


@pytest.fixture
def run_search(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a config (toy extension declared) and ``torchon run`` it into ``tmp_path/out``."""

    def run(body: str, *extra: str, out: str = "out") -> tuple[subprocess.CompletedProcess[str], Path]:
        cfg = write_config(tmp_path, body)
        proc = torchon("run", cfg, "-o", tmp_path / out, *extra, cwd=tmp_path)
        return proc, tmp_path / out

    return run
