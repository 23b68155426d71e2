"""Per-trial overhead of torchon's Ray executor against Ray Tune's own, on the same Ray instance.

Figure:

- ``ray-trial-overhead``: wall time per trivial trial (one ``step()`` reporting one metric) of a ``!Search`` with
  ``executor: ray``, one trial at a time, TPE, seeded — driver, Optuna study, the trial's actor (prepared once,
  reused), its forked process, the metric round trip, result files and the best trial's bundle included — against
  Ray Tune's ``Tuner.fit`` of a trivial function trainable with ``reuse_actors=True``, one trial at a time, on the
  same Ray instance (2 CPUs, started here). Both include their own start-up (actors, Tune's controller), spread over
  the trials. Goal: ratio <= 1.2.

3 alternating rounds after a warm-up of each; medians. Run: ``python benchmarks/bench_ray.py [--trials 50]
[--rounds 3]`` (about a minute). Needs torchon-search and torchon-ray. Exits 0 whatever the result.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import run_search, trivial_search


def run_tune(trials: int, storage: Path) -> float:
    from ray import tune

    def trivial(config: dict[str, float]) -> dict[str, float]:
        return {"loss": config["x"]}

    tuner = tune.Tuner(
        trivial,
        param_space={"x": tune.uniform(0.0, 1.0)},
        tune_config=tune.TuneConfig(num_samples=trials, reuse_actors=True, max_concurrent_trials=1),
        run_config=tune.RunConfig(storage_path=str(storage), verbose=0),
    )
    sink = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        tuner.fit()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import ray

    os.environ.pop("RAY_ADDRESS", None)  # a Ray of its own, not whatever cluster this shell points at
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
            folder = Path(tmp)
            trivial = trivial_search(folder, args.trials, executor="ray")
            runs = iter(range(10**6))
            run_search(trivial, folder / f"out{next(runs)}")  # warm-up: imports, Ray workers
            run_tune(args.trials, folder / f"tune{next(runs)}")
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(run_search(trivial, folder / f"out{next(runs)}") / args.trials)
                theirs.append(run_tune(args.trials, folder / f"tune{next(runs)}") / args.trials)
    finally:
        ray.shutdown()
    t, a = statistics.median(ours), statistics.median(theirs)
    print(
        f"BENCH ray-trial-overhead: ratio={t / a:.2f} goal=<=1.2 torchon={t * 1e3:.1f}ms anchor={a * 1e3:.1f}ms "
        f"(per trivial trial, {args.trials} trials one at a time, TPE, executor: ray; anchor Ray Tune Tuner.fit "
        f"with reuse_actors=True; same Ray instance, 2 CPUs, ray {ray.__version__})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
