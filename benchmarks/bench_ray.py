"""Per-trial overhead of torchon's Ray executor against Ray Tune's own, on the same Ray instance; and the Trainer
on Ray Train against local processes.

Figures:

- ``ray-trial-overhead``: wall time per trivial trial (one ``step()`` reporting one metric) of a ``!Search`` with
  ``executor: ray``, one trial at a time, TPE, seeded — driver, Optuna study, the trial's actor (prepared once,
  reused), its forked process, the metric round trip, result files and the best trial's bundle included — against
  Ray Tune's ``Tuner.fit`` of a trivial function trainable with ``reuse_actors=True``, one trial at a time, on the
  same Ray instance (2 CPUs, started here). Both include their own start-up (actors, Tune's controller), spread over
  the trials. Goal: ratio <= 1.2.

- ``ray-train-2-workers``: training steps per second of a 2-process data-parallel ``!Trainer`` with
  ``executor: ray`` (Ray Train's ``TorchTrainer``, gloo, on the same Ray instance) against the same Trainer with 2
  local processes, from the step times each run's ``metrics.jsonl`` records (the first step excluded: start-up is
  not a step). Goal: ratio >= 0.9.

3 alternating rounds after a warm-up of each; medians. Run: ``python benchmarks/bench_ray.py [--trials 50]
[--rounds 3] [--only trials|train]`` (a few minutes). Needs torchon-search, torchon-torch and torchon-ray. Exits 0
whatever the result.
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


BLOBS = (
    Path(__file__).resolve().parents[1] / "plugins" / "torchon-torch" / "tests" / "trainer_files" / "blobs.py"
)
TRAIN = """\
blobs: {blobs}
---
!Trainer
model: !torch.nn.Sequential
  - !torch.nn.Linear {{in_features: 8, out_features: 256}}
  - !torch.nn.Tanh {{}}
  - !torch.nn.Linear {{in_features: 256, out_features: 3}}
train_data: !blobs.Blobs {{n: 16384, seed: 1}}
val_data: !blobs.Blobs {{n: 1024, seed: 2}}
batch_size: 64
optimizer: !torch.optim.SGD {{lr: 0.05, momentum: 0.9}}
metrics: [accuracy]
max_steps: {steps}
seed: 5
progress: false
log_interval: 0
processes: 2
device: cpu
{more}
"""


def steps_per_second(out: Path) -> float:
    """Steps a second between the first and the last step the run's metrics.jsonl records."""
    import json

    times = [
        (r["step"], r["time"])
        for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
        if "train_loss" in r
    ]
    (first, t0), (last, t1) = times[0], times[-1]
    return (last - first) / (t1 - t0)


def bench_train(folder: Path, rounds: int, steps: int = 12) -> None:
    """``ray-train-2-workers``: the Trainer's steps/s on Ray Train against 2 local processes."""
    import ray

    from torchon.runner import run_config

    local = folder / "local.yaml"
    local.write_text(TRAIN.format(blobs=BLOBS, steps=steps, more=""))
    on_ray = folder / "ray.yaml"
    on_ray.write_text(
        TRAIN.format(blobs=BLOBS, steps=steps, more="executor: ray\nresources_per_process: {CPU: 1}")
    )
    runs = iter(range(10**6))

    def rate(config: Path) -> float:
        out = folder / f"train{next(runs)}"
        with contextlib.redirect_stderr(io.StringIO()):
            assert run_config(config, output=str(out)) == 0, f"{config.name} failed: see {out}/logs/run.log"
        return steps_per_second(out)

    rate(local)
    rate(on_ray)  # warm-up: imports, Ray Train's first workers
    ours, theirs = [], []
    for r in range(rounds):
        for config in (on_ray, local) if r % 2 == 0 else (local, on_ray):
            (ours if config is on_ray else theirs).append(rate(config))
    t, a = statistics.median(ours), statistics.median(theirs)
    print(
        f"BENCH ray-train-2-workers: ratio={t / a:.2f} goal=>=0.9 torchon={t:.2f}steps/s anchor={a:.2f}steps/s "
        f"(a 2-process data-parallel Trainer on Ray Train, gloo, vs 2 local processes; {steps} steps of 256 "
        f"batches split over 2 processes; median of {rounds}; ray {ray.__version__})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["trials", "train"], help="measure one figure")
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
            if args.only != "trials":
                bench_train(Path(tmp), args.rounds)
            if args.only == "train":
                return 0
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
