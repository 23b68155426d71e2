"""The report of a large search: how long ``report.html`` takes to write, and how big it is.

Figure:

- ``report-500-trials``: wall time of writing ``report.html`` (torchon-search's ``write_page``: every chart's data,
  Optuna's parameter importances, the tables, the page, Plotly.js beside it) for a search of 500 trials of 20 steps
  (a fifth pruned early, a few failed) over four parameters (log-uniform, uniform, integer, choice), built through
  the report's own data model. The anchor is the goal itself, 2 s: ratio <= 1.0 meets it. The notes give the page's
  size (goal: under 5 MB; Plotly.js, about 5 MB, is written beside it once, not in it), and the first write in a
  fresh process, which also imports Plotly and ``optuna.importance`` (that imports scikit-learn when it is
  installed).

The timed writes run after a warm-up, in this process; median of 5. Run: ``python benchmarks/bench_report.py
[--trials 500] [--rounds 5]`` (a few seconds). Needs torchon-search. Exits 0 whatever the result.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

ANCHOR = 2.0


def synthetic(root: Path, trials: int, steps: int) -> object:
    """A Search's report of ``trials`` trials, as the data model holds it."""
    from torchon_search.records import TrialRecord
    from torchon_search.report_data import Param, Report, Stage

    rng = random.Random(0)
    params = [
        Param("optimizer.lr", "log", 1e-5, 1e-1),
        Param("dropout", "float", 0.0, 0.5),
        Param("layers", "int", 1, 8),
        Param("model.width", "categorical", choices=["32", "64", "128", "256"]),
    ]
    records = []
    for n in range(trials):
        lr, dropout, layers, width = (
            10 ** rng.uniform(-5, -1),
            rng.uniform(0, 0.5),
            rng.randint(1, 8),
            rng.randrange(4),
        )
        status = "failed" if n % 50 == 7 else ("pruned" if n % 5 == 3 else "completed")
        last = steps if status == "completed" else rng.randint(1, steps // 2)
        quality = abs(math.log10(lr) + 3) / 2 + dropout + abs(layers - 4) / 8 + (3 - width) / 6
        history = [
            {"step": s, "metrics": {"val_loss": quality + 2.0 / s + rng.gauss(0, 0.02), "lr": lr}}
            for s in range(1, last + 1)
        ]
        record = TrialRecord(
            "search",
            n,
            f"{n:016x}",
            {"optimizer.lr": lr, "dropout": dropout, "layers": layers, "model.width": width},
            {
                "optimizer.lr": float(f"{lr:.6g}"),
                "dropout": float(f"{dropout:.6g}"),
                "layers": layers,
                "model.width": 32 << width,
            },
            {},
            str(root / "trials" / f"{n:016x}"),
            status=status,
            steps=last,
            value=history[-1]["metrics"]["val_loss"] if status == "completed" else None,
            metrics=dict(history[-1]["metrics"]),
            history=history,
            error="ValueError: diverged" if status == "failed" else None,
            seconds=rng.uniform(1, 60),
        )
        records.append(record)
    stage = Stage("search", "val_loss", "min", params, records)
    return Report("Search: bench.yaml", "Search", {"search": stage}, root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from torchon_search.report import PLOTLY_JS, write_page

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        report = synthetic(root, args.trials, args.steps)
        page = root / "report.html"
        start = time.perf_counter()
        write_page(page, report)  # cold: imports Plotly and optuna.importance
        cold = time.perf_counter() - start
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            write_page(page, report)
            times.append(time.perf_counter() - start)
        t = statistics.median(times)
        size = page.stat().st_size / 1e6
        js = (root / PLOTLY_JS).stat().st_size / 1e6
        text = page.read_text(encoding="utf-8")
        charts = text.count('class="chart"')
    print(
        f"BENCH report-{args.trials}-trials: ratio={t / ANCHOR:.2f} goal=<=1.0 torchon={t:.3f}s anchor={ANCHOR:.1f}s "
        f"(size {size:.2f} MB, goal < 5 MB; {PLOTLY_JS} {js:.1f} MB beside it; {charts} charts; first write in "
        f"this process, imports included: {cold:.2f}s; {args.steps} steps a trial)"
    )


if __name__ == "__main__":
    main()
