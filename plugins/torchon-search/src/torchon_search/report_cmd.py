"""``torchon report RUN_DIR [--embed]``: write a search's or an experiment's ``report.html`` again from its run folder.

For a run that did not get to its end (interrupted, killed, or still running elsewhere), or one copied back from a
cluster: the page is drawn from the trials' files (:func:`torchon_search.report.write_run_report`). Exit status: 0
written, 2 the folder holds no search or experiment run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torchon.api import Command

__all__ = ["ReportCommand"]


class ReportCommand(Command):
    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Write report.html of a search or an experiment again from its run folder (the output folder of "
            "`torchon run`), e.g. of an interrupted or a remote run. Exit status: 0 written, 2 RUN_DIR holds no "
            "search or experiment run."
        )
        parser.add_argument("run_dir", metavar="RUN_DIR", help="the run's output folder")
        parser.add_argument(
            "--embed",
            action="store_true",
            help="put Plotly.js inside report.html (one self-contained file, about 5 MB larger) instead of "
            "beside it as plotly.min.js",
        )

    def run(self, args: argparse.Namespace) -> int:
        from torchon_search.report import write_run_report
        from torchon_search.report_data import NotARun

        try:
            path = write_run_report(Path(args.run_dir), embed=args.embed)
        except NotARun as exc:
            print(f"torchon report: error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {path}")
        return 0
