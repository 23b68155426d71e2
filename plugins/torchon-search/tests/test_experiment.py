"""``!Experiment`` end to end: stages, links, reduce, bundles between stages, caching, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from search_helpers import TOY, cli_env, results, trial_results, write_config

import torchon

EXPERIMENT = """
!Experiment
pipeline:
  train: !toy.Train
    model: !toy.Model {{width: !grid [2, 4, 8]}}
    lr: !grid [0.01, 0.05, 0.2]
    epochs: 3
    sleep: {sleep}
  evaluate: !toy.Evaluate
    model: !@ train.model
    scale: !grid [1.0, {scale}]
search:
  train: {{metric: loss, mode: min}}
  evaluate: {{metric: score, mode: max}}
reduce: {{train: {keep}}}
max_concurrent: 2
"""


def start_run(cfg: Path, out: Path) -> subprocess.Popen[bytes]:
    """``torchon run CFG -o OUT`` in the background (to be killed)."""
    return subprocess.Popen(
        [sys.executable, "-m", "torchon", "run", cfg, "-o", out],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_reduce_keeps_the_best_for_min_and_loads_stage_outputs(run_search, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(TOY))
    proc, out = run_search(EXPERIMENT.format(sleep=0, scale=2.0, keep=2))
    assert proc.returncode == 0, proc.stderr
    train = trial_results(out / "train")
    assert len(train) == 9
    ranked = sorted(train.values(), key=lambda t: t["value"])
    survivors = {t["key"] for t in ranked[:2]}  # lowest loss: mode min
    assert {(t["params"]["model.width"], t["params"]["lr"]) for t in ranked[:2]} == {(8, 0.05), (8, 0.01)}
    evaluate = trial_results(out / "evaluate")
    assert len(evaluate) == 4  # 2 surviving train variants x 2 scales; reduced-away variants never go on
    assert {t["inputs"]["train"] for t in evaluate.values()} == survivors
    # each train variant trained once (3 steps), evaluate loaded its saved model instead of training again
    assert all(lines(out / "train" / "trials" / k / "steps.log") == 3 for k in train)
    for t in evaluate.values():
        weights = sum(torchon.load(out / "train" / "trials" / t["inputs"]["train"] / "output").model.weights)
        assert t["value"] == pytest.approx(weights * t["params"]["scale"])
    # only the variants that had to be kept were saved as bundles
    saved = {k for k in train if (out / "train" / "trials" / k / "output" / "manifest.json").is_file()}
    assert survivors <= saved
    best = torchon.load(out / "best" / "evaluate")
    assert best.scale == 2.0 and sum(best.model.weights) == pytest.approx(8 * 3 * 0.05)
    assert torchon.load(out / "best" / "train").model.width == 8
    assert len(results(out)) == 13 and (out / "train" / "results.csv").is_file()


def test_rerun_skips_finished_variants_and_reruns_what_changed(run_search) -> None:  # type: ignore[no-untyped-def]
    proc, out = run_search(EXPERIMENT.format(sleep=0, scale=2.0, keep=2))
    assert proc.returncode == 0, proc.stderr
    before = {k: lines(out / "train" / "trials" / k / "steps.log") for k in trial_results(out / "train")}
    proc, out = run_search(EXPERIMENT.format(sleep=0, scale=2.0, keep=2), "--resume")
    assert proc.returncode == 0, proc.stderr
    assert {r["status"] for r in results(out)} == {"cached"}
    # a change in the evaluate stage reruns evaluate variants it changes, and nothing of train
    proc, out = run_search(EXPERIMENT.format(sleep=0, scale=3.0, keep=2), "--resume")
    assert proc.returncode == 0, proc.stderr
    rows = results(out)
    assert {r["status"] for r in rows if r["stage"] == "train"} == {"cached"}
    statuses = {(r["scale"], r["status"]) for r in rows if r["stage"] == "evaluate"}
    assert statuses == {("1.0", "cached"), ("3.0", "completed")}
    assert {
        k: lines(out / "train" / "trials" / k / "steps.log") for k in trial_results(out / "train")
    } == before


def test_kill_9_of_the_driver_then_resume(tmp_path: Path) -> None:
    body = """
    !Experiment
    pipeline:
      train: !toy.Train
        model: !toy.Model {width: !randint [1, 8]}
        lr: !uniform [0.0, 0.3]
        epochs: 2
        sleep: 0.15
      evaluate: !toy.Evaluate {model: !@ train.model}
    search:
      train: {metric: loss, mode: min, num_samples: 8, seed: 3}
      evaluate: {metric: score, mode: max}
    reduce: {train: 2}
    max_concurrent: 2
    """
    cfg = write_config(tmp_path, body)
    reference = subprocess.run(
        [sys.executable, "-m", "torchon", "run", cfg, "-o", tmp_path / "ref"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "out"
    driver = start_run(cfg, out)
    deadline = time.monotonic() + 60
    while len(list((out / "train" / "trials").glob("*/result.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    finished = trial_results(out / "train")
    assert 3 <= len(finished) < 8
    steps = {k: lines(out / "train" / "trials" / k / "steps.log") for k in finished}
    rerun = subprocess.run(
        [sys.executable, "-m", "torchon", "run", cfg, "-o", out, "--resume"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    # no finished trial ran again
    assert {k: lines(out / "train" / "trials" / k / "steps.log") for k in finished} == steps
    assert all(r["status"] == "cached" for r in results(out) if r["key"] in finished)

    # and the result is the uninterrupted run's
    def outcome(rows: list[dict[str, str]]) -> list[tuple[str, str, str]]:
        return sorted((r["stage"], r["key"], r["value"]) for r in rows)

    assert outcome(results(out)) == outcome(results(tmp_path / "ref"))


def test_reduce_larger_than_the_variants(run_search) -> None:  # type: ignore[no-untyped-def]
    proc, out = run_search(EXPERIMENT.format(sleep=0, scale=2.0, keep=20))
    assert proc.returncode == 0, proc.stderr
    assert (
        "reduce: stage train keeps the best 20, but only 9 of its variants completed; all 9 go on"
        in proc.stderr
    )
    assert len(trial_results(out / "evaluate")) == 18


# links to a stage, or an attribute, that does not exist; a search tag that nothing varies; bad reduce
@pytest.mark.parametrize(
    ("change", "what"),
    [
        (
            "model: !@ trian.model",
            "link !@ trian.model: nothing named 'trian' is in scope (did you mean train?)",
        ),
        (
            "model: !@ train.modle",
            "link !@ train.modle: train (!toy.Train) has no argument or attribute 'modle' (did you mean model?)",
        ),
        (
            "train: {metric: loss, mode: min}|train: {metric: loss, mode: min, seed: !grid [1, 2]}",
            "!grid is not inside the trial of a !Search or a stage of an !Experiment's pipeline, so nothing varies",
        ),
        (
            "reduce: {train: 2}|reduce: {trian: 2}",
            "!Experiment's reduce names stage 'trian', which is not in the pipeline (did you mean train?)",
        ),
        (
            "reduce: {train: 2}|reduce: {evaluate: 1}|evaluate: {metric: score, mode: max}|evaluate: {}",
            "reduce evaluate: stage evaluate has no metric",
        ),
        (
            "reduce: {train: 2}|reduce: {train: 0}",
            "reduce train: keep a whole number of variants, at least 1",
        ),
        (
            "  train: {metric: loss, mode: min}|  train: {metric: loss, mode: min, pruner: asha}|  evaluate: {metric: score, mode: max}|  evaluate: {metric: score, pruner: median}",
            "stage evaluate's component !toy.Evaluate has no step()",
        ),
    ],
)
def test_bad_experiments_are_config_errors(tmp_path: Path, change: str, what: str) -> None:
    from search_helpers import torchon as run_torchon

    text = EXPERIMENT.format(sleep=0, scale=2.0, keep=2)
    pairs = change.split("|")
    if len(pairs) == 1:
        text = text.replace("model: !@ train.model", change)
    for old, new in zip(pairs[::2], pairs[1::2]):
        assert old in text
        text = text.replace(old, new)
    cfg = write_config(tmp_path, text)
    proc = run_torchon("run", cfg, "-o", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert what in proc.stderr and f"{cfg}:" in proc.stderr


def test_an_interrupted_trial_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
        !Search
        trial: !toy.Train {model: !toy.Model {width: 2}, lr: 0.05, epochs: 6, sleep: 0.3}
        metric: loss
        checkpoint_every: 1
        """,
    )
    out = tmp_path / "out"
    driver = start_run(cfg, out)
    deadline = time.monotonic() + 60
    checkpoints = list((out / "trials").glob("*/checkpoint.json")) if (out / "trials").exists() else []
    while time.monotonic() < deadline:
        checkpoints = list((out / "trials").glob("*/checkpoint.json")) if (out / "trials").exists() else []
        if checkpoints and json.loads(checkpoints[0].read_text())["step"] >= 2:
            break
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    saved_step = json.loads(checkpoints[0].read_text())["step"]
    folder = checkpoints[0].parent
    before = lines(folder / "steps.log")
    rerun = subprocess.run(
        [sys.executable, "-m", "torchon", "run", cfg, "-o", out, "--resume"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    epochs = [int(line.split()[0]) for line in (folder / "steps.log").read_text().splitlines()]
    assert epochs[before:] == list(range(saved_step + 1, 7))  # went on from the checkpoint, not from epoch 1
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "completed" and result["steps"] == 6
    assert [h["step"] for h in result["history"]] == [1, 2, 3, 4, 5, 6]


def test_independent_stages_run_at_the_same_time(run_search, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Stages a and b link to nothing: they start together. Each waits for the other to have started, so their
    times overlap only if they ran at once; join links to both, so it starts after both ended."""
    monkeypatch.syspath_prepend(str(TOY))
    marks = tmp_path / "marks"
    marks.mkdir()
    proc, out = run_search(
        f"""
        !Experiment
        pipeline:
          a: !toy.Meet {{folder: {marks}, name: a, other: b}}
          b: !toy.Meet {{folder: {marks}, name: b, other: a}}
          join: !toy.Join {{left: !@ a, right: !@ b, folder: {marks}}}
        max_concurrent: 2
        resources: {{cpus: 0.5}}
        """
    )
    assert proc.returncode == 0, proc.stderr
    t = {p.name: float(p.read_text()) for p in marks.iterdir()}
    assert t["a.start"] < t["b.end"] and t["b.start"] < t["a.end"]  # a and b overlapped
    assert t["join.start"] >= max(t["a.end"], t["b.end"])  # join waited for both
    join = torchon.load(out / "best" / "join")  # built from the outputs of a and b: each saw the other start
    assert join.left.met and join.right.met
