"""Search overhead and parallel throughput: torchon's Search (local executor) against Optuna in-process.

Figures:

- ``search-trial-overhead``: wall time per trivial trial (one ``step()`` reporting one metric) of a ``!Search`` with
  the local executor, every trial in a worker process of its own, one at a time, random sampler — driver, Optuna
  study, fork, build, metric round trip, result files and the best trial's bundle included — against Optuna's own
  ``study.optimize`` of a trivial objective in-process; both with Optuna's default sampler (TPE), seeded. Goal:
  ratio <= 8 (about 10 ms).
  Ray Tune's figure is printed too when Ray is installed.
- ``search-2-workers``: trials per second of a search of CPU-bound trials (pure Python, ~0.25 s each) with 2
  concurrent workers, against the same search with 1 worker (``save: none``: the figure is about CPU, not about
  fsync). Goal: ratio >= 1.8 on 2 cores. The notes give what
  the machine itself allows: two plain Python processes doing the same work at once against one after the other.

Both sides run in this process, alternating, after a warm-up; medians. Run: ``python benchmarks/bench_search.py
[--trials 200] [--rounds 3]`` (about 40 s). Needs torchon-search. Exits 0 whatever the result.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

EXT = "benchsearch"
EXT_SOURCE = textwrap.dedent(
    '''
    """Runnables for bench_search.py."""
    import torchon


    class Trivial(torchon.Runnable):
        def __init__(self, x: float = 0.0) -> None:
            self.x = x

        def step(self) -> bool:
            self.report(loss=self.x)
            return False


    class Busy(torchon.Runnable):
        def __init__(self, x: float = 0.0, work: int = 5_000_000) -> None:
            self.x, self.work = x, work

        def step(self) -> bool:
            total = 0
            for i in range(self.work):
                total += i % 7
            self.report(loss=self.x + total * 0.0)
            return False
    '''
)


def _config(folder: Path, body: str, name: str) -> Path:
    path = folder / name
    path.write_text(f"{EXT}: {folder / EXT}\n---\n" + textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def trivial_search(folder: Path, trials: int, executor: str = "local") -> Path:
    """Write the benchmark's extension into ``folder`` and a config searching ``trials`` trivial trials with TPE,
    one at a time; the config's path."""
    (folder / EXT).mkdir(exist_ok=True)
    (folder / EXT / "__init__.py").write_text(EXT_SOURCE, encoding="utf-8")
    return _config(
        folder,
        f"""
        !Search
        trial: !{EXT}.Trivial {{x: !uniform [0.0, 1.0]}}
        metric: loss
        num_samples: {trials}
        algorithm: tpe
        max_concurrent: 1
        seed: 0
        executor: {executor}
        """,
        f"trivial-{executor}.yaml",
    )


def run_search(config: Path, out: Path) -> float:
    """Seconds to run the Search of ``config`` in this process (output silenced), as ``torchon run`` would."""
    import torchon
    from torchon.component import Context
    from torchon.env import get_env, set_env

    loaded = torchon.load_config(config)
    previous = set_env(loaded.environment(get_env()).replace(config_path=str(config), output_dir=str(out)))
    try:
        search = loaded.build().root
        out.mkdir(parents=True)
        search.setup(Context(env=get_env(), output_dir=out))
        sink = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            search.run()
        return time.perf_counter() - start
    finally:
        set_env(previous)


def run_optuna(trials: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    start = time.perf_counter()
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=trials)
    return time.perf_counter() - start


def run_ray_tune(trials: int) -> float | None:
    try:
        import ray
        from ray import tune
    except ImportError:
        return None
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        start = time.perf_counter()
        tune.Tuner(
            lambda config: {"loss": config["x"]},
            param_space={"x": tune.uniform(0, 1)},
            tune_config=tune.TuneConfig(num_samples=trials, reuse_actors=True),
        ).fit()
        return time.perf_counter() - start
    finally:
        ray.shutdown()


def machine_parallelism(work: int = 6_000_000) -> float:
    """How much faster two plain Python processes finish the same CPU-bound work at once than in turn."""
    code = f"t = 0\nfor i in range({work}): t += i % 7"
    start = time.perf_counter()
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], check=True)
    serial = time.perf_counter() - start
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    for proc in procs:
        proc.wait()
    return serial / (time.perf_counter() - start)


def _cpus() -> int:
    """The CPUs this process may run on (``taskset`` and containers may give it fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy-trials", type=int, default=12)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        folder = Path(tmp)
        trivial = trivial_search(folder, args.trials)
        busy = {
            n: _config(
                folder,
                f"""
                !Search
                trial: !{EXT}.Busy {{x: !uniform [0.0, 1.0]}}
                metric: loss
                num_samples: {args.busy_trials}
                max_concurrent: {n}
                seed: 0
                save: none
                """,
                f"busy{n}.yaml",
            )
            for n in (1, 2)
        }
        runs = iter(range(10**6))
        run_search(trivial, folder / f"out{next(runs)}")  # warm-up: imports, first fork
        run_optuna(args.trials)
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(run_search(trivial, folder / f"out{next(runs)}") / args.trials)
            theirs.append(run_optuna(args.trials) / args.trials)
        one, two = [], []
        for _ in range(max(1, args.rounds - 1)):
            one.append(args.busy_trials / run_search(busy[1], folder / f"out{next(runs)}"))
            two.append(args.busy_trials / run_search(busy[2], folder / f"out{next(runs)}"))

    load = os.getloadavg()[0]  # other work on the machine moves both figures: say how busy it was
    t, a = statistics.median(ours), statistics.median(theirs)
    ray = run_ray_tune(min(args.trials, 50))
    ray_note = (
        f"; Ray Tune reuse_actors: {ray / min(args.trials, 50) * 1e3:.1f}ms" if ray else "; Ray not installed"
    )
    print(
        f"BENCH search-trial-overhead: ratio={t / a:.2f} goal=<=8 torchon={t * 1e3:.2f}ms anchor={a * 1e3:.2f}ms "
        f"(per trivial trial, {args.trials} trials, local executor, 1 worker; anchor optuna study.optimize "
        f"in-process; TPE both{ray_note}; load average {load:.2f})"
    )
    t2, t1 = statistics.median(two), statistics.median(one)
    machine = machine_parallelism()
    print(
        f"BENCH search-2-workers: ratio={t2 / t1:.2f} goal=>=1.8 torchon={t2:.2f}trials/s anchor={t1:.2f}trials/s "
        f"(CPU-bound trials, no bundles kept, 2 workers against 1, {_cpus()} CPUs; two plain processes here run "
        f"{machine:.2f}x as fast as one after the other; load average {load:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
