"""The runs a folder holds, read back from their run folders: what ``torchon runs`` lists and ``torchon compare``
sets side by side. Everything comes from the files a run writes (``run.json``, ``config.yaml``), so it works for
runs that failed, were interrupted, were killed, or ran elsewhere and were copied back."""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchon.api import RunFolder, UsageError

__all__ = ["Run", "find_runs", "read_run"]

# run.json's status -> what the table says
_STATUS = {"succeeded": "done", "failed": "failed", "interrupted": "interrupted", "running": "running"}


@dataclass(frozen=True)
class Run:
    """One run folder, as ``torchon runs`` shows it."""

    folder: Path
    record: Mapping[str, Any]

    @property
    def config(self) -> str:
        return str(self.record.get("config", "?"))

    @property
    def started(self) -> _dt.datetime | None:
        try:
            return _dt.datetime.fromisoformat(str(self.record["started"]))
        except (KeyError, ValueError):
            return None

    @property
    def seconds(self) -> float | None:
        """How long it ran: to its end, or for a run still going, until now."""
        if isinstance(self.record.get("seconds"), (int, float)):
            return float(self.record["seconds"])
        if self.status == "running" and self.started is not None:
            return (_dt.datetime.now(_dt.UTC) - self.started).total_seconds()
        return None

    @property
    def status(self) -> str:
        """done, failed, interrupted or running; a run whose record says running but whose process on this
        machine is gone was killed: interrupted."""
        status = _STATUS.get(str(self.record.get("status")), str(self.record.get("status", "?")))
        if status == "running" and self._process_gone():
            return "interrupted"
        return status

    @property
    def killed(self) -> bool:
        """Interrupted without a chance to say so (``kill -9``, a lost machine): the record still says running."""
        return self.record.get("status") == "running" and self.status == "interrupted"

    def _process_gone(self) -> bool:
        pid, host = self.record.get("pid"), self.record.get("host")
        if not isinstance(pid, int) or host != socket.gethostname():
            return False  # another machine's run (or an older record): take the record's word
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False

    @property
    def best(self) -> Mapping[str, Any] | None:
        best = self.record.get("best")
        return best if isinstance(best, Mapping) and "metric" in best and "value" in best else None

    def best_text(self) -> str:
        best = self.best
        if best is None:
            return "-"
        value = best["value"]
        shown = f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
        return f"{best['metric']}={shown}" + (f" ({best['at']})" if best.get("at") else "")

    @property
    def overrides(self) -> list[str]:
        return [str(o) for o in self.record.get("overrides", [])]

    def config_tree(self) -> Any:
        """The config as this run ran it (its ``config.yaml``), parsed: nothing resolved, nothing imported."""
        from torchon.api import parse_documents

        path = self.folder / RunFolder.CONFIG
        docs = [d for d in parse_documents(path.read_text(encoding="utf-8"), str(path)) if d is not None]
        return docs[-1] if docs else None

    def to_json(self) -> dict[str, Any]:
        started = self.started
        return {
            "folder": str(self.folder),
            "config": self.config,
            "started": started.isoformat() if started else None,
            "seconds": self.seconds,
            "status": self.status,
            "killed": self.killed,
            "best": dict(self.best) if self.best else None,
            "overrides": self.overrides,
            "error": self.record.get("error"),
        }


def read_run(folder: str | Path) -> Run:
    """The run in ``folder``; a :class:`UsageError` naming it when it holds none."""
    folder = Path(folder)
    record_path = folder / RunFolder.RECORD
    if not record_path.is_file():
        raise UsageError(f"{folder} is not a run folder (it has no {RunFolder.RECORD})")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{record_path} cannot be read: {exc}") from None
    if not isinstance(record, dict):
        raise UsageError(f"{record_path} is not a run record (not a JSON object)")
    return Run(folder, record)


def find_runs(target: str | Path | None = None) -> list[Run]:
    """The runs under ``target``, oldest first: a run folder itself, every run folder below a folder (``runs/``
    by default), or for a config file the runs of that config (``runs/<stem>/``). Trials of searches (their own
    folders below a run) are not runs of their own."""
    if target is None:
        base = Path("runs")
        if not base.is_dir():
            return []
    else:
        base = Path(target)
        if base.suffix in (".yaml", ".yml") and not base.is_dir():  # a config: its runs, wherever it is
            base = Path("runs") / base.stem
            if not base.is_dir():
                return []
        elif not base.is_dir():
            raise UsageError(f"{target} is neither a folder nor a config file")
    runs = [read_run(folder) for folder in _run_folders(base)]
    return sorted(runs, key=lambda r: (r.started or _dt.datetime.min.replace(tzinfo=_dt.UTC), str(r.folder)))


def _run_folders(base: Path) -> Iterator[Path]:
    if RunFolder.holds_run(base):
        yield base
        return  # what lies below a run (trials, stages) belongs to it
    try:
        children = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return
    for child in children:
        yield from _run_folders(child)
