"""What a user sees while a search runs: a live table of trials in a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from torchon_search.driver import TrialRecord, rank, sort_key

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


class Display:
    """Shows trials as they run: a rich live table when ``stream`` is a terminal, one line per finished trial else."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._live: Any = None
        self._seen = 0
        self._open: list[TrialRecord] = []
        self._best: TrialRecord | None = None
        self._last = 0.0
        self._stage = ""
        self._metric: str | None = None
        self._mode = "min"
        self._total = 0

    def stage(self, name: str, total: int, metric: str | None, mode: str) -> None:
        self._stage, self._total, self._metric, self._mode = name, total, metric, mode
        self._seen, self._open, self._best = 0, [], None
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            if self._live is not None:
                self._live.stop()
            self._live = Live(console=Console(file=self.stream), refresh_per_second=4, transient=False)
            self._live.start()
        else:
            print(
                f"stage {name}: {total} trial(s), {metric or 'no metric'} ({mode})",
                file=self.stream,
                flush=True,
            )

    def refresh(self, records: Sequence[TrialRecord], final: bool = False) -> None:
        if self.tty:
            now = time.monotonic()
            if final or now - self._last > 0.2:
                self._last = now
                if self._live is not None:
                    self._live.update(self._table(records), refresh=True)
            if final and self._live is not None:
                self._live.stop()
                self._live = None
            return
        fresh = records[
            self._seen :
        ]  # records only ever grow: look at each new one once, then at the unsettled
        self._seen = len(records)
        self._open.extend(fresh)
        settled = [r for r in self._open if r.status not in ("running", "pending", "finishing")]
        if not settled:
            return
        self._open = [r for r in self._open if r.status in ("running", "pending", "finishing")]
        for record in settled:
            status = "cached" if record.cached else record.status
            if record.value is not None and status in ("completed", "cached"):
                if self._best is None or sort_key(record, self._mode) < sort_key(self._best, self._mode):
                    self._best = record
            value = f" {self._metric}={_fmt(record.value)}" if record.value is not None else ""
            lead = f" (best {_fmt(self._best.value)}, trial {self._best.number})" if self._best else ""
            error = f": {record.error}" if record.error and status == "failed" else ""
            print(
                f"trial {record.number} [{record.stage}] {status}{value} step {record.steps}{lead} "
                f"{_params(record, 200)}{error}",
                file=self.stream,
                flush=True,
            )

    def _table(self, records: Sequence[TrialRecord]) -> Any:
        from rich.table import Table

        best = rank(records, self._mode)
        counts: dict[str, int] = {}
        for r in records:
            counts[r.status] = counts.get(r.status, 0) + 1
        done = sum(counts.get(s, 0) for s in ("completed", "pruned", "failed"))
        lead = (
            f"best {self._metric}={_fmt(best[0].value)} (trial {best[0].number})" if best else "no result yet"
        )
        table = Table(
            title=f"{self._stage}: {done}/{self._total} done, {counts.get('running', 0)} running, "
            f"{counts.get('failed', 0)} failed; {lead}",
            title_justify="left",
        )
        for column in ("trial", "status", "step", self._metric or "value", "params"):
            table.add_column(column)
        running = [r for r in records if r.status == "running"]
        rest = [r for r in records if r.status != "running"]
        for r in (running + rest[::-1])[:_ROWS]:
            status = "cached" if r.cached else r.status
            value = r.value if r.value is not None else r.metrics.get(self._metric or "", None)
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
