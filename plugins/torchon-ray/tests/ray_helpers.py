"""Helpers for torchon-ray's tests: configs using the raytoy extension, ``torchon`` in a real subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent


def write_config(folder: Path, body: str, name: str = "exp.yaml", ext: str | Path | None = None) -> Path:
    """A config declaring the raytoy extension (at ``ext``, default this folder) above ``body``."""
    path = folder / name
    path.write_text(f"raytoy: {ext or TESTS}\n---\n" + textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def torchon(
    *args: str | Path, env: Mapping[str, str], cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torchon", *map(str, args)],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def results(out: Path) -> list[dict[str, Any]]:
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def outcome(out: Path, metric: str = "loss") -> list[tuple[str, str, str, str]]:
    """(key, status, value, error) per trial, in trial order: what must not depend on the executor."""
    return [(r["key"], r["status"], r[metric], r["error"]) for r in results(out)]


def trial_env(out: Path) -> list[dict[str, Any]]:
    """What each trial's ``torchon.get_env()`` said (raytoy's Fit writes it)."""
    return [json.loads(p.read_text()) for p in sorted(out.glob("**/trials/*/env.json"))]
