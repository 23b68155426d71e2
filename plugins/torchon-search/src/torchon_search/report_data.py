"""What a report shows, read from a running driver or from a run folder: the stages, their search spaces and trials.

A :class:`Report` is built from the :class:`~torchon_search.driver.Driver` at the end of a search or an experiment
(:func:`from_driver`), or from a run folder on disk (:func:`load_run`, what ``torchon report RUN_DIR`` does). Next to
``report.html`` the report writes ``report.json``: each stage's metric, mode, links, ``reduce`` and search space, and
which variants went on to later stages, so the page can be drawn again from the folder. A folder without it (a run
killed before its end) still gives a report: the space and the metric are then inferred from the trials'
``result.json`` files, and the page says so. Nothing here imports Optuna or Plotly.
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

from torchon_search.records import TrialRecord

__all__ = ["META", "NotARun", "Param", "Report", "Stage", "from_driver", "load_run", "save_meta"]

META = "report.json"
"""The report's own record of the run's stages, beside ``report.html``."""

FORMAT = 1


class NotARun(Exception):
    """The folder holds no search or experiment run."""


@dataclass
class Param:
    """One searched hyperparameter: ``log`` (log-uniform float), ``float``, ``int`` or ``categorical``."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: list[str] = field(default_factory=list)  # categorical: the options, as shown


@dataclass
class Stage:
    """A stage (a Search has one, named ``search``) and its trials."""

    name: str
    metric: str
    mode: str
    params: list[Param]
    records: list[TrialRecord]
    deps: list[str] = field(default_factory=list)
    reduce: int | None = None  # how many of its best variants go on (the experiment's ``reduce``)
    kept: list[str] | None = None  # keys of the variants that went on to later stages (None: not known)
    folder: str = ""
    inferred: list[str] = field(default_factory=list)  # what was guessed from the trials, said in the page

    def meta(self) -> dict[str, Any]:
        out = asdict(self)
        del out["records"], out["inferred"]
        return out


@dataclass
class Report:
    """Everything the page shows; ``root`` is the run folder (links in the page are relative to it)."""

    title: str
    kind: str  # Search or Experiment
    stages: dict[str, Stage]
    root: Path
    notes: list[str] = field(default_factory=list)

    def find(self, stage: str, key: str) -> TrialRecord | None:
        for record in self.stages[stage].records if stage in self.stages else []:
            if record.key == key:
                return record
        return None


def _param(dim: Any) -> Param:
    from torchon_search.space import display

    if dim.finite:
        return Param(dim.name, "categorical", choices=[_text(display(o)) for o in dim.options])
    kind = {"loguniform": "log", "uniform": "float", "randint": "int"}[dim.kind]
    return Param(dim.name, kind, float(dim.low), float(dim.high))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def from_driver(driver: Any, *, title: str, root: Path) -> Report:
    """The report of what ``driver`` ran (or is running) into ``root``."""
    dependents = {d for spec in driver.stages.values() for d in spec.deps}
    stages: dict[str, Stage] = {}
    for name, spec in driver.stages.items():
        survivors = driver.survivors.get(name)
        stages[name] = Stage(
            name,
            spec.options.metric or "value",
            spec.options.mode,
            [_param(d) for d in spec.dims],
            list(driver.records.get(name, [])),
            deps=list(spec.deps),
            reduce=spec.keep if name in dependents and spec.keep is not None else None,
            kept=[r.key for r in survivors] if survivors is not None and name in dependents else None,
            folder=spec.folder,
        )
    kind = "Search" if list(driver.stages) == ["search"] and not stages["search"].folder else "Experiment"
    return Report(title, kind, stages, root)


def save_meta(report: Report) -> None:
    """Write ``report.json`` (atomically) into the run folder."""
    meta = {
        "format": FORMAT,
        "title": report.title,
        "kind": report.kind,
        "stages": [s.meta() for s in report.stages.values() if not s.inferred],
    }
    path = report.root / META
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _records(folder: Path) -> list[TrialRecord]:
    records = []
    for sub in sorted((folder / "trials").glob("*/")):
        record = TrialRecord.load(sub)
        if record is not None:
            record.dir = str(sub)  # the folder as found now (the run may have been moved or copied)
            records.append(record)
    return sorted(records, key=lambda r: r.number)


def load_run(run_dir: Path) -> Report:
    """The report of the run in ``run_dir``; :class:`NotARun` when it holds no search or experiment."""
    if not run_dir.is_dir():
        raise NotARun(f"{run_dir} is not a folder")
    meta_path = run_dir / META
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise NotARun(f"{meta_path} cannot be read: {exc}") from None
        if meta.get("format") == FORMAT:
            stages = {}
            for s in meta["stages"]:
                s["params"] = [Param(**p) for p in s["params"]]
                stage = Stage(**s, records=[])
                stage.records = _records(run_dir / stage.folder)
                stages[stage.name] = stage
            return Report(meta["title"], meta["kind"], stages, run_dir)
    return _infer(run_dir)


def _infer(run_dir: Path) -> Report:
    """A report from the trials' ``result.json`` files alone (no ``report.json``: the run did not get to its end)."""
    if any((run_dir / "trials").glob("*/result.json")):
        kind, folders = "Search", {"search": ""}
    else:
        found = sorted({p.parent.parent.parent.name for p in run_dir.glob("*/trials/*/result.json")})
        if not found:
            raise NotARun(
                f"{run_dir} holds no search or experiment run (no {META}, no trials/*/result.json, "
                "no <stage>/trials/*/result.json)"
            )
        kind, folders = "Experiment", {name: name for name in found}
    stages: dict[str, Stage] = {}
    for name, folder in folders.items():
        records = _records(run_dir / folder)
        stage_name = records[0].stage if records else name
        metric, mode, guessed = _infer_metric(run_dir / folder, records)
        deps = list(dict.fromkeys(d for r in records for d in r.inputs))
        stages[stage_name] = Stage(
            stage_name,
            metric,
            mode,
            _infer_params(records),
            records,
            deps=deps,
            folder=folder,
            inferred=["search space", *guessed],
        )
    stages = _in_order(stages)
    for stage in stages.values():  # what went on: the upstream variants downstream trials were built from
        for dep in stage.deps:
            if dep in stages:
                used = {r.inputs[dep] for r in stage.records if dep in r.inputs}
                stages[dep].kept = [r.key for r in stages[dep].records if r.key in used]
    config = "run"
    run_json = run_dir / "run.json"
    if run_json.is_file():
        try:
            config = Path(str(json.loads(run_json.read_text(encoding="utf-8")).get("config") or "run")).name
        except (json.JSONDecodeError, AttributeError):
            pass
    notes = [
        f"This run has no {META} (it did not get to its end): what the page says of each stage's "
        "search space and metric is inferred from its trials."
    ]
    return Report(f"{kind}: {config}", kind, stages, run_dir, notes)


def _in_order(stages: dict[str, Stage]) -> dict[str, Stage]:
    """The stages with each after the stages it links to."""
    ordered: dict[str, Stage] = {}
    while len(ordered) < len(stages):
        ready = [
            s
            for n, s in stages.items()
            if n not in ordered and all(d in ordered or d not in stages for d in s.deps)
        ]
        for stage in ready or [s for n, s in stages.items() if n not in ordered]:  # a cycle cannot be: all go
            ordered[stage.name] = stage
    return ordered


def _infer_metric(folder: Path, records: list[TrialRecord]) -> tuple[str, str, list[str]]:
    """The stage's metric (its results.csv's column, else the metric equal to the trials' value) and mode."""
    metric = None
    table = folder / "results.csv"
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as f:
            head = next(csv.reader(f), [])
        metric = head[5] if len(head) > 5 else None
    if metric is None:
        for r in records:
            match = [k for k, v in r.metrics.items() if r.value is not None and v == r.value]
            if match:
                metric = match[0]
                break
    if metric is None:
        metric = next((k for r in records for e in r.history for k in e.get("metrics", {})), "value")
    lowered = metric.lower()
    mode = "min" if any(w in lowered for w in ("loss", "error", "err", "mse", "mae", "time")) else "max"
    return metric, mode, ["mode"]


def _infer_params(records: Sequence[TrialRecord]) -> list[Param]:
    names = list(dict.fromkeys(k for r in records for k in r.params))
    params = []
    for name in names:
        pairs = [
            (r.assignment.get(name, r.params[name]), r.params[name]) for r in records if name in r.params
        ]
        numeric = all((_is_number(shown) and raw == shown) or _close(raw, shown) for raw, shown in pairs)
        if not numeric:
            choices: dict[Any, str] = {}
            for raw, shown in pairs:
                choices.setdefault(raw if isinstance(raw, int) else _text(shown), _text(shown))
            ordered = [choices[k] for k in sorted(choices, key=lambda k: (not isinstance(k, int), str(k)))]
            params.append(Param(name, "categorical", choices=ordered))
            continue
        values = [float(raw) for raw, _ in pairs if raw is not None]
        lo, hi = min(values), max(values)
        if all(isinstance(raw, int) and not isinstance(raw, bool) for raw, _ in pairs):
            params.append(Param(name, "int", lo, hi))
        else:
            params.append(Param(name, "log" if lo > 0 and hi / lo >= 100 else "float", lo, hi))
    return params


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _close(raw: Any, shown: Any) -> bool:
    return (
        _is_number(raw)
        and _is_number(shown)
        and isinstance(raw, float)
        and math.isclose(raw, shown, rel_tol=1e-5)
    )
