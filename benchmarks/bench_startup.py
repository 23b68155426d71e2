"""Startup time of ``torchon --help`` and ``torchon plugins`` against importing torchon's two core dependencies.

Anchor: ``python -c "import pluggy, ruamel.yaml"``, the least any torchon command must pay. Goal: each command's
median wall time is at most 1.5x the anchor's. Every repetition runs the anchor and both commands in turn
(alternating, after a warm-up), each as a fresh subprocess, as a user would.

Run: ``python benchmarks/bench_startup.py [--reps 30]``. Exits 0 whatever the result.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL = 1.5
HEAVY = (
    "torch",
    "ray",
    "boto3",
    "botocore",
    "optuna",
    "git",
    "cookiecutter",
    "numpy",
    "hydra",
    "omegaconf",
    "mlflow",
    "plotly",
)
ANCHOR_CODE = "import pluggy, ruamel.yaml"


def torchon_command() -> tuple[list[str], str]:
    """The console script installed next to this interpreter (what users run), else ``python -m torchon``."""
    bindir = Path(sys.executable).parent
    for name in ("torchon", "torchon.exe"):
        script = bindir / name
        if script.is_file():
            return [str(script)], "console script"
    found = shutil.which("torchon")
    if found:
        return [found], "console script on PATH"
    return [sys.executable, "-m", "torchon"], "python -m torchon"


def clean_env() -> dict[str, str]:
    """The environment a user has by default: plugin autoload on, no deny-list, no import-time profiling."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TORCHON_") and k not in ("PYTHONPROFILEIMPORTTIME", "PYTHONDEVMODE")
    }
    return env


def time_once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"command {cmd} failed with status {proc.returncode}:\n{proc.stderr.decode(errors='replace')}"
        )
    return elapsed


def imported_modules(cmd: list[str], env: dict[str, str]) -> dict[str, int]:
    """Every module the command imports, with its cumulative import time in microseconds (-X importtime)."""
    proc = subprocess.run(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        check=False,
        text=True,
    )
    modules: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        modules[parts[2].strip()] = int(parts[1])
    return modules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions of each command (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    opts = parser.parse_args()

    env = clean_env()
    torchon, how = torchon_command()
    commands = {
        "anchor": [sys.executable, "-c", ANCHOR_CODE],
        "help": [*torchon, "--help"],
        "plugins": [*torchon, "plugins"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    order = list(commands)
    for rep in range(opts.warmup + opts.reps):
        # rotate the order each round so no command always runs right after another
        rotated = order[rep % len(order) :] + order[: rep % len(order)]
        for name in rotated:
            elapsed = time_once(commands[name], env)
            if rep >= opts.warmup:
                times[name].append(elapsed)

    med = {name: statistics.median(values) for name, values in times.items()}
    low = {name: min(values) for name, values in times.items()}
    print(f"python {sys.version.split()[0]} at {sys.executable}; torchon run as: {how} ({' '.join(torchon)})")
    print(
        f"{opts.reps} alternating repetitions after {opts.warmup} warm-up rounds; "
        "default environment (plugin autoload on, TORCHON_* variables removed)"
    )
    for name in commands:
        print(
            f"  {name:8s} median={med[name] * 1000:7.1f}ms  min={low[name] * 1000:7.1f}ms  ({' '.join(commands[name][-2:])})"
        )

    print(f"imports (one run each with PYTHONPROFILEIMPORTTIME=1); heavy means one of: {', '.join(HEAVY)}")
    anchor_modules = imported_modules(commands["anchor"], env)
    for name, cmd in commands.items():
        modules = anchor_modules if name == "anchor" else imported_modules(cmd, env)
        heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})
        print(f"  {name:8s} {len(modules)} modules; heavy: {', '.join(heavy) or 'none'}")
        if name != "anchor":
            extra = {m: us for m, us in modules.items() if m not in anchor_modules}
            slowest = sorted(extra.items(), key=lambda kv: -kv[1])[:6]
            listing = ", ".join(f"{m} {us / 1000:.1f}ms" for m, us in slowest)
            print(f"           {len(extra)} beyond the anchor's; slowest (cumulative): {listing}")

    anchor = med["anchor"]
    note = f"({how}; anchor: python -c '{ANCHOR_CODE}'; median of {opts.reps})"
    for figure, name in (("startup-help", "help"), ("startup-plugins", "plugins")):
        ratio = med[name] / anchor
        print(
            f"BENCH {figure}: ratio={ratio:.2f} goal=<={GOAL} torchon={med[name] * 1000:.1f}ms "
            f"anchor={anchor * 1000:.1f}ms {note}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
