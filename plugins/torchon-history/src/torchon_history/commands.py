"""``torchon runs [CONFIG_OR_DIR]`` and ``torchon compare RUN RUN...``: run history from run folders."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from torchon.api import Command, UsageError
from torchon_history.history import Run, find_runs, read_run

__all__ = ["CompareCommand", "RunsCommand"]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _status(run: Run) -> str:
    return "interrupted (killed)" if run.killed else run.status


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column runs free."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths)), row[-1]]).rstrip() for row in [header, *rows]
    ]
    return "\n".join(lines)


class RunsCommand(Command):
    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "List runs, oldest first: the run folders under runs/ (or under DIR; for a config file, its runs), "
            "with their config, start, duration, status (done, failed, interrupted, running), best result and "
            "folder."
        )
        parser.add_argument("target", metavar="CONFIG_OR_DIR", nargs="?", help="a config file or a folder")
        parser.add_argument("--json", action="store_true", help="print the runs as a JSON list, for scripts")

    def run(self, args: argparse.Namespace) -> int:
        runs = find_runs(args.target)
        if args.json:
            print(json.dumps([r.to_json() for r in runs], indent=2))
            return 0
        if not runs:
            print(f"no runs under {args.target or 'runs/'}", file=sys.stderr)
            return 0
        rows = []
        for run in runs:
            started = run.started.astimezone().strftime("%Y-%m-%d %H:%M:%S") if run.started else "-"
            rows.append(
                [run.config, started, _duration(run.seconds), _status(run), run.best_text(), str(run.folder)]
            )
        print(_table(["CONFIG", "STARTED", "DURATION", "STATUS", "BEST", "OUTPUT"], rows))
        return 0


class CompareCommand(Command):
    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Compare runs: each run's status and best result, and how its config differs from the first run's, "
            "written as the overrides that would turn the first into it (torchon run CONFIG OVERRIDE...)."
        )
        parser.add_argument("runs", metavar="RUN", nargs="+", help="run folders (two or more)")
        parser.add_argument("--json", action="store_true", help="print the comparison as JSON, for scripts")

    def run(self, args: argparse.Namespace) -> int:
        from torchon_history.difference import difference

        if len(args.runs) < 2:
            raise UsageError("torchon compare needs two runs or more: torchon compare RUN RUN...")
        runs = [read_run(folder) for folder in args.runs]
        trees = [self._tree(run) for run in runs]
        changes = [difference(trees[0], tree) for tree in trees]
        if args.json:
            out = [
                {**run.to_json(), "differences": diff, "reference": i == 0}
                for i, (run, diff) in enumerate(zip(runs, changes))
            ]
            print(json.dumps(out, indent=2))
            return 0
        rows = [
            [
                str(run.folder),
                _status(run),
                run.best_text(),
                "(the reference)" if i == 0 else " ".join(diff) or "same config",
            ]
            for i, (run, diff) in enumerate(zip(runs, changes))
        ]
        print(_table(["RUN", "STATUS", "BEST", "CONFIG (as overrides of the first)"], rows))
        return 0

    @staticmethod
    def _tree(run: Run) -> object:
        from torchon.api import ConfigError

        try:
            return run.config_tree()
        except FileNotFoundError:
            raise UsageError(f"{run.folder} has no config.yaml: it is not a complete run folder") from None
        except ConfigError as exc:
            raise UsageError(f"the config of {run.folder} cannot be read: {exc}") from None
