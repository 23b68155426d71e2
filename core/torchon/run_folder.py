"""A run's output folder (``runs/<config stem>/<timestamp>/``, or ``-o OUT``) and the files in it; the one place
that knows their names."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from torchon.atomic import write_atomic, write_json
from torchon.errors import UserError

__all__ = ["OutputError", "RunFolder"]

logger = logging.getLogger("torchon.run")


class OutputError(UserError):
    """The output folder cannot be used as asked."""

    exit_code = 2


class RunFolder:
    """The output folder of one run."""

    CONFIG = "config.yaml"  # the config as run
    RECORD = "run.json"  # what ran, with which plugins and extensions, how it ended
    LOCK = "torchon.lock"  # what the extensions resolved to, which distributions the classes came from
    LOG = "logs/run.log"
    METRICS = "metrics.jsonl"  # every metric reported, one JSON object a line

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @staticmethod
    def holds_run(path: str | Path) -> bool:
        """Whether ``path`` is a run's output folder."""
        return (Path(path) / RunFolder.RECORD).is_file()

    @classmethod
    def choose(cls, config_path: str | Path, output: str | None, *, resume: bool, force: bool) -> RunFolder:
        """The folder this run writes to, made if needed: OUT, which must be empty unless ``--resume`` or
        ``--force``; else ``runs/<config stem>/<timestamp>``, or with ``--resume`` the latest such folder."""
        if output is not None:
            out = Path(output)
            if out.exists() and not out.is_dir():
                raise OutputError(f"output {out} exists and is not a folder")
            if out.is_dir() and any(out.iterdir()):
                if force:
                    shutil.rmtree(out)
                elif not resume:
                    raise OutputError(
                        f"output folder {out} already holds a run; pass --resume to continue it or --force to "
                        "replace it"
                    )
            out.mkdir(parents=True, exist_ok=True)
            return cls(out)
        base = Path("runs") / Path(config_path).stem
        if resume:
            previous = sorted(p for p in base.glob("*") if p.is_dir()) if base.is_dir() else []
            if previous:
                return cls(previous[-1])
            logger.info("nothing to resume under %s; starting a new run", base)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = base / stamp
        n = 1
        while out.exists():
            n += 1
            out = base / f"{stamp}-{n}"
        out.mkdir(parents=True)
        return cls(out)

    def file(self, name: str) -> Path:
        """The path of one of the names above in this folder."""
        return self.path / name

    def write_config(self, text: str) -> None:
        write_atomic(self.file(self.CONFIG), text)

    def write_record(self, record: dict[str, Any]) -> None:
        write_json(self.file(self.RECORD), record)

    def read_record(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.file(self.RECORD).read_text(encoding="utf-8"))
        return data
