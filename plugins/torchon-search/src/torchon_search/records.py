"""What a search records of its trials, on disk and back: each trial's ``result.json``, the ``results.csv`` table,
and what a rerun reads to resume (finished results, the last checkpoint, the metrics reported up to it).

A trial's folder (``<stage>/trials/<key>/``) holds ``result.json`` (its :class:`TrialRecord`, written when it ends),
``metrics.jsonl`` (one line per reported step, written by the trial), ``checkpoint.json`` with ``checkpoint/`` (its
last checkpoint), ``trial.log``, ``traceback.txt`` (when it raised) and ``output/`` (its bundle, when kept).
Nothing here imports Optuna or talks to an executor: the driver (:mod:`torchon_search.driver`) does.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FINISHED",
    "Resume",
    "TrialRecord",
    "better",
    "first_error",
    "rank",
    "read_resume",
    "sort_key",
    "write_csv",
]

FINISHED = ("completed", "pruned")
"""Statuses of a trial that a rerun does not run again."""


@dataclass
class TrialRecord:
    """One trial, as recorded in its ``result.json`` and the results table."""

    stage: str
    number: int
    key: str
    assignment: dict[str, Any]
    params: dict[str, Any]
    inputs: dict[str, str]
    dir: str
    status: str = "pending"  # pending, running, completed, pruned, failed, cached
    steps: int = 0
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    saved: bool = False
    seconds: float = 0.0
    cached: bool = False

    @property
    def output(self) -> Path:
        return Path(self.dir) / "output"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def save(self) -> None:
        """Write the trial's ``result.json`` (atomically: a rerun reads it whole or not at all)."""
        path = Path(self.dir) / "result.json"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, default=str), encoding="utf-8")
        os.replace(tmp, path)

    def save_traceback(self, text: str) -> None:
        (Path(self.dir) / "traceback.txt").write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> TrialRecord | None:
        """The record in ``folder``'s ``result.json``; None when there is none, or it cannot be read."""
        path = folder / "result.json"
        if not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError):
            return None


@dataclass
class Resume:
    """Where an unfinished trial picks up: its last checkpoint, and the metrics it reported up to it."""

    checkpoint: Path
    step: int
    history: list[dict[str, Any]]  # as in TrialRecord.history: ``{"step": n, "metrics": {...}}``


def read_resume(folder: Path) -> Resume | None:
    """How the trial in ``folder`` resumes: from its last complete checkpoint, else None (its partial metrics,
    if any, are removed: it starts over)."""
    marker = folder / "checkpoint.json"
    if marker.is_file() and (folder / "checkpoint" / "manifest.json").is_file():
        step = int(json.loads(marker.read_text())["step"])
        history = [
            {"step": i + 1, "metrics": {k: v for k, v in e.items() if k not in ("step", "time")}}
            for i, e in enumerate(_read_history(folder / "metrics.jsonl", step))
        ]
        return Resume(folder / "checkpoint", step, history)
    if (folder / "metrics.jsonl").exists():
        (folder / "metrics.jsonl").unlink()  # a trial that ran before without finishing starts over
    return None


def _read_history(path: Path, upto: int) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if len(out) < upto:
            out.append(entry)
    return out


def better(a: float, b: float, mode: str) -> bool:
    return a < b if mode == "min" else a > b


def rank(records: Sequence[TrialRecord], mode: str) -> list[TrialRecord]:
    """Completed trials, best first (lowest first for ``min``)."""
    done = [r for r in records if r.status == "completed" and r.value is not None and not math.isnan(r.value)]
    return sorted(done, key=lambda r: sort_key(r, mode))


def sort_key(record: TrialRecord, mode: str) -> float:
    """Best first when sorted ascending: the value for ``min``, its negation for ``max``."""
    value = record.value if record.value is not None else math.inf
    return value if mode == "min" else -value


def first_error(records: Sequence[TrialRecord]) -> str:
    """The first failed trial's error, as said after a stage's failure."""
    errors = [r.error for r in records if r.status == "failed" and r.error]
    return f"first error: {errors[0]}" if errors else "no error recorded"


def write_csv(path: Path, records: Sequence[TrialRecord], metric: str | None) -> None:
    """The results table: one row per trial, one column per hyperparameter any of them has."""
    params = list(dict.fromkeys(k for r in records for k in r.params))
    head = ["trial", "stage", "key", "status", "steps", metric or "value", *params, "seconds", "error", "dir"]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(head)
        for r in records:
            writer.writerow(
                [
                    r.number,
                    r.stage,
                    r.key,
                    "cached" if r.cached and r.status == "completed" else r.status,
                    r.steps,
                    "" if r.value is None else r.value,
                    *[r.params.get(p, "") for p in params],
                    r.seconds,
                    r.error or "",
                    r.dir,
                ]
            )
    os.replace(tmp, path)
