"""What a user sees while a search runs: a live table of trials in a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from torchon_search.records import TrialRecord, rank, sort_key

__all__ = ["Display"]

_ROWS = 15
_STYLE = {"completed": "green", "cached": "green", "pruned": "yellow", "failed": "red", "running": "cyan"}


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


def _params(record: TrialRecord, width: int = 60) -> str:
    text = " ".join(f"{k}={_fmt(v)}" for k, v in record.params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class _Stage:
    """What the display knows of one stage."""

    name: str
    total: int
    metric: str | None
    mode: str
    records: Sequence[TrialRecord] = ()
    seen: int = 0  # records already looked at (plain lines)
    open: list[TrialRecord] = field(default_factory=list)  # looked at, not yet settled (plain lines)
    best: TrialRecord | None = None


class Display:
    """Shows trials as they run: a rich live table per running stage when ``stream`` is a terminal, one line per
    finished trial otherwise. Stages that run at the same time each have their own table."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._live: Any = None
        self._last = 0.0
        self._stages: dict[str, _Stage] = {}

    def stage(self, name: str, total: int, metric: str | None, mode: str) -> None:
        self._stages[name] = _Stage(name, total, metric, mode)
        if not self.tty:
            print(
                f"stage {name}: {total} trial(s), {metric or 'no metric'} ({mode})",
                file=self.stream,
                flush=True,
            )
        elif self._live is None:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=self.stream), refresh_per_second=4, transient=False)
            self._live.start()

    def refresh(self, name: str, records: Sequence[TrialRecord], final: bool = False) -> None:
        stage = self._stages[name]
        stage.records = records
        if self.tty:
            now = time.monotonic()
            if (final or now - self._last > 0.2) and self._live is not None:
                from rich.console import Group

                self._last = now
                self._live.update(Group(*(self._table(s) for s in self._stages.values())), refresh=True)
            return
        # records only ever grow: look at each new one once, then at the unsettled
        fresh = records[stage.seen :]
        stage.seen = len(records)
        stage.open.extend(fresh)
        settled = [r for r in stage.open if r.status not in ("running", "pending", "finishing")]
        if not settled:
            return
        stage.open = [r for r in stage.open if r.status in ("running", "pending", "finishing")]
        for record in settled:
            status = "cached" if record.cached else record.status
            if record.value is not None and status in ("completed", "cached"):
                if stage.best is None or sort_key(record, stage.mode) < sort_key(stage.best, stage.mode):
                    stage.best = record
            value = f" {stage.metric}={_fmt(record.value)}" if record.value is not None else ""
            lead = f" (best {_fmt(stage.best.value)}, trial {stage.best.number})" if stage.best else ""
            error = f": {record.error}" if record.error and status == "failed" else ""
            print(
                f"trial {record.number} [{record.stage}] {status}{value} step {record.steps}{lead} "
                f"{_params(record, 200)}{error}",
                file=self.stream,
                flush=True,
            )

    def _table(self, stage: _Stage) -> Any:
        from rich.table import Table

        records = stage.records
        best = rank(records, stage.mode)
        counts: dict[str, int] = {}
        for r in records:
            counts[r.status] = counts.get(r.status, 0) + 1
        done = sum(counts.get(s, 0) for s in ("completed", "pruned", "failed"))
        lead = (
            f"best {stage.metric}={_fmt(best[0].value)} (trial {best[0].number})" if best else "no result yet"
        )
        table = Table(
            title=f"{stage.name}: {done}/{stage.total} done, {counts.get('running', 0)} running, "
            f"{counts.get('failed', 0)} failed; {lead}",
            title_justify="left",
        )
        for column in ("trial", "status", "step", stage.metric or "value", "params"):
            table.add_column(column)
        running = [r for r in records if r.status == "running"]
        rest = [r for r in records if r.status != "running"]
        for r in (running + rest[::-1])[:_ROWS]:
            status = "cached" if r.cached else r.status
            value = r.value if r.value is not None else r.metrics.get(stage.metric or "", None)
            table.add_row(
                str(r.number),
                f"[{_STYLE.get(status, 'white')}]{status}[/]",
                str(r.steps),
                _fmt(value),
                _params(r) + (f" [red]{r.error}[/]" if r.error and status == "failed" else ""),
            )
        return table

    def summary(self, driver: Any, out: Path, best: Mapping[str, TrialRecord | None]) -> None:
        """The results table (best first) and where things are, printed at the end."""
        lines = []
        for name, records in driver.records.items():
            stage = driver.stages[name]
            metric = stage.options.metric
            ranked = rank(records, stage.options.mode)
            others = [r for r in records if r not in ranked]
            lines.append(f"results of {name} ({metric or 'no metric'}, {stage.options.mode}):")
            lines.append(f"  {'trial':>5}  {'status':9}  {'steps':>5}  {metric or 'value':>12}  params")
            for r in (ranked + others)[:20]:
                status = "cached" if r.cached and r.status == "completed" else r.status
                lines.append(
                    f"  {r.number:>5}  {status:9}  {r.steps:>5}  {_fmt(r.value):>12}  {_params(r, 80)}"
                    + (f"  {r.error}" if r.error and r.status == "failed" else "")
                )
            if len(records) > 20:
                lines.append(f"  ... {len(records) - 20} more in results.csv")
            chosen = best.get(name)
            if chosen is not None:
                where = out / "best" if name == "search" else out / "best" / name
                lines.append(f"  best: trial {chosen.number} -> {where}")
        lines.append(f"results: {out / 'results.csv'}; report: {out / 'report.html'}")
        print("\n".join(lines), file=sys.stdout, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
