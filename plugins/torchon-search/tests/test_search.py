"""``!Search`` end to end: ``torchon run`` in a subprocess, real worker processes, real Optuna."""

from __future__ import annotations

import json

import pytest
from search_helpers import TOY, results, trial_results

import torchon

GRID = """
!Search
trial: !toy.Train
  model: !toy.Model {{width: !grid [2, 8]}}
  lr: !grid [0.01, 0.05, 0.2]
  epochs: 2
metric: loss
mode: {mode}
max_concurrent: 2
"""


@pytest.mark.parametrize("mode", ["min", "max"])
def test_grid_search_outputs_and_best_bundle(run_search, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(TOY))
    proc, out = run_search(GRID.format(mode=mode))
    assert proc.returncode == 0, proc.stderr
    rows = results(out)
    assert len(rows) == 6 and {r["status"] for r in rows} == {"completed"}
    assert {(r["model.width"], r["lr"]) for r in rows} == {
        (w, lr) for w in ("2", "8") for lr in ("0.01", "0.05", "0.2")
    }
    values = {(r["model.width"], r["lr"]): float(r["loss"]) for r in rows}
    best = min(values, key=values.get) if mode == "min" else max(values, key=values.get)  # type: ignore[arg-type]
    assert best == (("8", "0.05") if mode == "min" else ("2", "0.2"))
    # per-trial folders: log, metrics, result; the best one's runnable exported under best/
    trials = trial_results(out)
    assert len(trials) == 6 and all(t["steps"] == 2 for t in trials.values())
    assert all((out / "trials" / key / "metrics.jsonl").is_file() for key in trials)
    loaded = torchon.load(out / "best")
    assert (loaded.model.width, loaded.lr) == (int(best[0]), float(best[1]))
    assert loaded.epoch == 2 and loaded.model.weights == pytest.approx([2 * float(best[1])] * int(best[0]))
    assert (out / "report.html").is_file()
    assert "results of search (loss, " + mode + ")" in proc.stdout
    assert "trial 0 [search] completed" in proc.stderr  # plain lines when not a terminal


def test_seeded_searches_are_reproducible(run_search) -> None:  # type: ignore[no-untyped-def]
    body = """
    !Search
    trial: !toy.Train
      model: !choice [!toy.Model {width: !randint [1, 8]}, !toy.Other {depth: !grid [1, 2]}]
      lr: !loguniform [1e-3, 1.0]
      epochs: 2
    metric: loss
    algorithm: tpe
    num_samples: 6
    seed: 7
    max_concurrent: 1
    """
    first, out1 = run_search(body, out="a")
    second, out2 = run_search(body, out="b")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("seconds", "dir")} for r in rows]  # noqa: E731
    assert strip(results(out1)) == strip(results(out2))
    assert len(results(out1)) == 6
    assert len({r["lr"] for r in results(out1)}) == 6


@pytest.mark.parametrize("algorithm", ["random", "cmaes"])
def test_other_samplers_run(run_search, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    proc, out = run_search(
        f"""
        !Search
        trial: !toy.Train {{model: !toy.Model {{width: !randint [1, 8]}}, lr: !uniform [0.0, 0.3], epochs: 1}}
        metric: loss
        algorithm: {algorithm}
        num_samples: 4
        seed: 0
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in results(out)] == ["completed"] * 4


def test_crashing_trials_are_recorded_and_the_search_goes_on(
    run_search, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(TOY))
    proc, out = run_search(
        """
        !Search
        trial: !toy.Train
          model: !toy.Model {width: 4}
          fail: !grid ["", raise, exit, segfault, oom, memory]
        metric: loss
        resources: {memory_mb: 600}
        max_concurrent: 2
        """
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["fail"]: r for r in results(out)}
    assert rows[""]["status"] == "completed"
    assert rows["raise"]["error"] == "ValueError: diverged"
    assert rows["exit"]["error"] == "the task called sys.exit(4)"
    assert rows["segfault"]["error"] == "killed by SIGSEGV"
    assert rows["oom"]["error"] == "killed by SIGKILL (out of memory?)"
    assert "MemoryError" in rows["memory"]["error"]
    assert all(rows[k]["status"] == "failed" for k in ("raise", "exit", "segfault", "oom", "memory"))
    trials = trial_results(out)
    failed = next(k for k, t in trials.items() if t["error"] == "ValueError: diverged")
    assert "Traceback" in (out / "trials" / failed / "traceback.txt").read_text()
    assert torchon.load(out / "best").fail == ""


def test_every_trial_failing_fails_the_run(run_search) -> None:  # type: ignore[no-untyped-def]
    proc, out = run_search(
        "!Search\ntrial: !toy.Train {model: !toy.Model {}, fail: !grid [raise, exit]}\nmetric: loss\n"
    )
    assert proc.returncode == 1
    assert "every trial of stage search failed (2)" in proc.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    assert len(results(out)) == 2 and not (out / "best").exists()


def test_max_failures_stops_the_search(run_search) -> None:  # type: ignore[no-untyped-def]
    proc, out = run_search(
        """
        !Search
        trial: !toy.Train {model: !toy.Model {}, fail: !grid [raise, raise, raise, "", "", "", "", ""]}
        metric: loss
        max_failures: 1
        max_concurrent: 1
        """
    )
    assert proc.returncode == 1
    assert "2 trials failed, more than max_failures=1" in proc.stderr
    assert len(results(out)) == 2  # nothing started after the limit was passed


def test_a_metric_no_trial_reports(run_search) -> None:  # type: ignore[no-untyped-def]
    proc, out = run_search(
        "!Search\ntrial: !toy.Train {model: !toy.Model {}, lr: !grid [0.1, 0.2], epochs: 1}\nmetric: accuracy\n"
    )
    assert proc.returncode == 1
    assert "never reported metric 'accuracy' (it reported: loss)" in proc.stderr
    assert {r["error"] for r in results(out)} == {"never reported metric 'accuracy' (it reported: loss)"}


@pytest.mark.parametrize(
    "pruner", ["median", "{type: asha, min_resource: 1, reduction_factor: 3}", "hyperband"]
)
def test_pruners_stop_bad_trials_early(run_search, pruner: str) -> None:  # type: ignore[no-untyped-def]
    # the first trials are good (lr near 0.05); later ones are bad from their first step and get stopped
    proc, out = run_search(
        f"""
        !Search
        trial: !toy.Train
          model: !toy.Model {{width: 4}}
          lr: !grid [0.05, 0.05, 0.06, 0.05, 0.06, 0.9, 0.8, 0.95, 0.7, 0.85]
          epochs: 6
        metric: loss
        pruner: {pruner}
        max_concurrent: 1
        """
    )
    assert proc.returncode == 0, proc.stderr
    rows = results(out)
    pruned = [r for r in rows if r["status"] == "pruned"]
    bad = [r for r in rows if float(r["lr"]) >= 0.7]
    assert all(int(r["steps"]) < 6 for r in pruned)
    assert rows[0]["status"] == "completed" and rows[0]["steps"] == "6"
    if pruner == "median":  # stops exactly the trials worse than the median of the others at the same step
        assert sorted(r["trial"] for r in pruned) == sorted(r["trial"] for r in bad), rows
    else:  # successive halving compares rungs: most bad trials go, some good ones may too
        assert sum(r["status"] == "pruned" for r in bad) >= 3, rows


def test_the_command_line_executor_replaces_the_configs(run_search) -> None:  # type: ignore[no-untyped-def]
    body = GRID.format(mode="min") + "executor: nowhere\n"  # not registered: only --executor makes this run
    refused, _ = run_search(body)
    assert refused.returncode == 2 and "executor 'nowhere' is not registered" in refused.stderr

    proc, out = run_search(body, "--executor", "local", out="chosen")
    assert proc.returncode == 0, proc.stderr
    assert len(results(out)) == 6
    assert json.loads((out / "run.json").read_text())["executor"] == "local"

    unknown, _ = run_search(GRID.format(mode="min"), "--executor", "locall", out="unknown")
    assert unknown.returncode == 2
    assert "--executor 'locall' is not registered (did you mean local?)" in unknown.stderr
