"""The Trainer in one process: what a run writes, resuming from a bundle, NaN losses, config errors, accumulation,
schedulers, early stopping, progress and TensorBoard, and the digits example."""

from __future__ import annotations

import io
import json
import logging
import math
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import torchon
from torchon.component import Context
from torchon.config import loads
from torchon.runner import run_config

FILES = Path(__file__).parent / "trainer_files"
REPO = Path(__file__).resolve().parents[3]


def config(body: str, *, header: bool = True) -> str:
    text = textwrap.dedent(body).strip() + "\n"
    return (f"blobs: {FILES / 'blobs.py'}\n---\n" + text) if header else text


BASE = """
!Trainer
model: !torch.nn.Sequential
  - !torch.nn.Linear {in_features: 8, out_features: 16}
  - !torch.nn.ReLU {}
  - !torch.nn.Linear {in_features: 16, out_features: 3}
train_data: !blobs.Blobs {n: 96, seed: 1}
val_data: !blobs.Blobs {n: 40, seed: 2}
batch_size: 16
optimizer: !torch.optim.Adam {lr: 0.01}
metrics: [accuracy]
val_metric: accuracy
max_steps: 4
seed: 0
progress: false
"""


def with_lines(base: str, **changes: Any) -> str:
    """``base`` with top-level keys replaced or added (``None`` removes one)."""
    lines = textwrap.dedent(base).strip().splitlines()
    for key, value in changes.items():
        lines = [line for line in lines if not line.startswith(f"{key}:")]
        if value is not None:
            lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def build(text: str) -> Any:
    return loads(config(text), "exp.yaml").build()


def setup(built: Any, out: Path | None, resume: bool = False) -> Any:
    context = Context(env=torchon.get_env(), output_dir=out, resume=resume) if out is not None else None
    for component in built.components:
        component.setup(context)
    return built.root


def teardown(built: Any) -> None:
    for component in reversed(built.components):
        component.teardown()


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(config(text))
    return path


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- a run and what it writes --------------------------------------------------------------------------------


def test_a_run_writes_checkpoint_best_final_summary_metrics_and_tensorboard(
    manager, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    assert run_config(write(tmp_path, with_lines(BASE, log_interval=0)), output=str(out)) == 0
    err = capsys.readouterr().err
    for step in range(1, 5):
        assert f"step {step}/4  train_loss" in err  # a plain line per step: not a terminal here
    assert "best val_accuracy" in err

    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert {"train_loss", "lr", "val_loss", "val_accuracy"} <= records[-1].keys()

    summary = json.loads((out / "summary.json").read_text())
    best = max(records, key=lambda r: r["val_accuracy"])
    assert summary["best"] == {"metric": "val_accuracy", "value": best["val_accuracy"], "step": best["step"]}
    assert summary["steps"] == 4 and summary["iterations"] == 4 * 6

    model = torchon.load(out / "best")
    assert isinstance(model, torch.nn.Sequential)
    trainer = torchon.load(out / "final")
    assert trainer.steps_done == 4 and trainer.best_metric == best["val_accuracy"]
    state = torchon.load(out / "checkpoints" / "last")
    assert same(state.model, trainer.model.state_dict())
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last"]  # older ones pruned

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert {"train_loss", "lr", "val_loss", "val_accuracy"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("val_accuracy")] == [1, 2, 3, 4]


@pytest.mark.parametrize(("interval", "logged"), [(0, [1, 2, 3, 4, 5, 6]), (3600, [1, 6])])
def test_step_lines_are_throttled_by_log_interval_but_every_step_is_recorded(
    manager, tmp_path: Path, capsys, interval: int, logged: list[int]
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    text = with_lines(BASE, max_steps=6, log_interval=interval)
    assert run_config(write(tmp_path, text), output=str(out)) == 0
    err = capsys.readouterr().err
    assert [s for s in range(1, 7) if f"step {s}/6  train_loss" in err] == logged  # the first and last always
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]


def test_a_throttled_step_line_is_not_even_formatted() -> None:
    from torchon_torch.progress import StepProgress

    made: list[int] = []

    def line(step: int) -> Any:
        return lambda: made.append(step) or f"step {step}"

    progress = StepProgress(5, logging.getLogger("test"), live=False, line_interval=3600)
    shown = [progress.end_step(line(s), last=s == 5) for s in range(1, 6)]
    assert shown == [True, False, False, False, True] and made == [1, 5]


def test_torchon_log_from_any_component_reaches_tensorboard_during_a_run(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = build(BASE)
    trainer = setup(built, tmp_path)
    trainer.step()
    torchon.log("grad_norm", 1.5, step=1)
    torchon.log("unstepped", 2.0)  # no step: the Trainer's current step
    teardown(built)
    torchon.log("after", 3.0, step=1)  # the run is over: not written

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"grad_norm", "unstepped", "train_loss"} <= tags and "after" not in tags
    assert events.Scalars("unstepped")[0].step == 1


def saved_midway_and_continued(text: str, tmp_path: Path, disturb: Any) -> tuple[Any, Any]:
    """Run ``text`` straight through, and again saved as a bundle after 2 steps (as a search checkpoints a trial),
    ``disturb()`` called, loaded and run to the end: (the continued Trainer, the uninterrupted one)."""
    straight = build(text)
    setup(straight, tmp_path / "a").run()
    teardown(straight)

    first = build(text)
    trainer = setup(first, tmp_path / "b")
    trainer.step()
    trainer.step()
    torchon.save(trainer, tmp_path / "bundle")
    teardown(first)
    disturb()  # whatever happened since: the bundle restores the generators

    again = torchon.load(tmp_path / "bundle")
    again.setup(Context(env=torchon.get_env(), output_dir=tmp_path / "c"))
    again.run()
    again.teardown()
    return again, straight.root


def test_a_trainer_saved_between_steps_and_loaded_continues_bit_exactly(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = with_lines(BASE, max_steps=5, iterations_per_step=4, checkpoint="false")
    text = text.replace("!torch.nn.ReLU {}", "!torch.nn.Dropout {p: 0.3}")
    again, straight = saved_midway_and_continued(text, tmp_path, lambda: torch.manual_seed(1234))
    assert again.steps_done == 5
    assert same(weights(again.model), weights(straight.model))
    assert again.best_metric == straight.best_metric


# -- checkpoints written in the background ----------------------------------------------------------------


@pytest.mark.parametrize("background", [True, False])
def test_a_checkpoint_holds_the_state_its_step_ended_with(manager, tmp_path: Path, background: bool) -> None:  # type: ignore[no-untyped-def]
    built = build(with_lines(BASE, async_checkpoint=str(background).lower()))
    trainer = setup(built, tmp_path)
    for _ in range(3):
        trainer.step()
    at_three = weights(trainer.model)
    with torch.no_grad():  # change the weights while step 3's checkpoint may still be being written
        for p in trainer.model.parameters():
            p.add_(1.0)
    teardown(built)  # returns once the last checkpoint is written
    saved = torchon.load(tmp_path / "checkpoints" / "last")
    assert saved.progress["steps_done"] == 3
    assert same(saved.model, {k: v.cpu() for k, v in at_three.items()})  # checkpoints hold CPU copies


def test_a_checkpoint_that_cannot_be_written_fails_the_run(manager, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import torchon_torch.checkpoint_writer as checkpoint_writer

    calls = []

    def failing_save(obj: Any, path: Any) -> None:
        calls.append(path)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_writer.torchon, "save", failing_save)
    built = build(with_lines(BASE, val_data=None, val_metric=None, metrics=None))
    trainer = setup(built, tmp_path)
    trainer.step()  # its checkpoint fails in the background...
    with pytest.raises(OSError, match="No space left"):
        trainer.step()  # ...and the run learns of it at the next save
    assert calls
    teardown(built)


# -- losses that are not numbers ------------------------------------------------------------------------------


def test_a_nan_loss_stops_the_run_naming_the_step(manager, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    text = with_lines(BASE, train_data="!blobs.Blobs {n: 96, seed: 1, poison: 96}", shuffle="false")
    out = tmp_path / "out"
    assert run_config(write(tmp_path, text), output=str(out)) == 1
    err = capsys.readouterr().err
    assert "run failed: the training loss became nan in iteration 1 of step 1" in err
    record = json.loads((out / "run.json").read_text())
    assert "step 1" in record["error"] and record["status"] == "failed"
    assert not (out / "checkpoints").exists() and not (out / "best").exists()


def test_a_nan_loss_in_a_later_step_keeps_the_last_checkpoint(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # 96 samples, 6 batches a step, no shuffling: the poisoned samples 90..95 are the last batch of each epoch
    text = with_lines(
        BASE, train_data="!blobs.Blobs {n: 96, seed: 1, poison: 0}", shuffle="false", max_steps=3
    )
    built = build(text)
    trainer = setup(built, tmp_path)
    assert trainer.step()
    trainer._train.tensors[0][90:] = float("nan")  # the data go bad after the first step
    with pytest.raises(torchon.RunFailed, match=r"in iteration 6 of step 2 .*last checkpoint: step 1"):
        trainer.step()
    teardown(built)
    assert torchon.load(tmp_path / "checkpoints" / "last").progress["steps_done"] == 1


def test_on_nan_skip_skips_the_batches_and_says_how_many(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = with_lines(BASE, train_data="!blobs.Blobs {n: 96, seed: 1, poison: 10}", on_nan="skip")
    built = build(text)
    trainer = setup(built, None)
    trainer.run()
    teardown(built)
    assert all(math.isfinite(p.sum().item()) for p in trainer.model.parameters())
    assert trainer.last_metrics["skipped_batches"] >= 1
    assert math.isfinite(trainer.last_metrics["train_loss"])


# -- config errors, with the file and line -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "argument", "message"),
    [
        (
            {"val_metric": "acuracy"},
            "val_metric",
            "'acuracy' is not computed (did you mean accuracy?): the validation computes loss, accuracy",
        ),
        ({"val_metric": "f1"}, "val_metric", "'f1' is not computed"),
        ({"val_data": None}, "val_metric", "'accuracy' needs validation data"),
        ({"metrics": "[accurcy]"}, "metrics", "unknown metric 'accurcy' (did you mean accuracy?)"),
        (
            {"optimizer": "!torch.nn.Linear {in_features: 2, out_features: 2}"},
            "optimizer",
            "!torch.nn.Linear is torch.nn.modules.linear.Linear, not a torch optimizer",
        ),
        ({"optimizer": "!torch.optim.Adam {lr: -1.0}"}, "optimizer", "!torch.optim.Adam cannot be made"),
        ({"device": "gpu0"}, "device", "'gpu0' is not a torch device"),
        ({"max_steps": 0}, "max_steps", "must be at least 1"),
        ({"log_interval": -1}, "log_interval", "must be 0 or more seconds, got -1"),
        ({"patience": 2, "val_data": None, "val_metric": None}, "patience", "needs a validation metric"),
    ],
)
def test_config_errors_point_at_the_argument(
    manager, tmp_path: Path, capsys, changes, argument, message
) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, with_lines(BASE, **changes))
    assert run_config(path, output=str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    # where the argument's value is written: its line, the column after "name: "
    line = next(
        i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith(f"{argument}:")
    )
    where = f"{path}:{line}:{len(argument) + 3}"
    assert f"{where}: error: !Trainer: argument '{argument}': {message}" in err
    assert "fix:" in err
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize(
    ("optimizer", "message"),
    [
        ("{lrr: 0.1}", ":16:31: error: !torch.optim.Adam has no argument 'lrr' (did you mean lr?)"),
        ("{lr: 0.1, betas: 0.9}", ":16:47: error: argument 'betas' of !torch.optim.Adam expects tuple["),
    ],
)
def test_optimizer_arguments_are_checked_before_building(
    manager, tmp_path: Path, capsys, optimizer, message
) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, with_lines(BASE, optimizer=f"!torch.optim.Adam {optimizer}"))
    assert run_config(path, output=str(tmp_path / "out")) == 2
    assert f"{path}{message}" in capsys.readouterr().err


# -- what the options do --------------------------------------------------------------------------------------


def test_gradient_accumulation_matches_a_batch_that_many_times_larger(manager) -> None:  # type: ignore[no-untyped-def]
    common = {"shuffle": "false", "val_data": None, "val_metric": None, "max_steps": 2, "metrics": None}
    common["optimizer"] = "!torch.optim.SGD {lr: 0.1}"
    big = build(with_lines(BASE, batch_size=32, **common))
    small = build(with_lines(BASE, batch_size=16, grad_accumulation=2, **common))
    for built in (big, small):
        setup(built, None).run()
    a, b = weights(big.root.model), weights(small.root.model)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert big.root.updates_done == small.root.updates_done == 6


def test_clipping_bounds_each_update(manager) -> None:  # type: ignore[no-untyped-def]
    text = with_lines(
        BASE,
        optimizer="!torch.optim.SGD {lr: 1.0}",
        clip_grad_value=0.001,
        iterations_per_step=1,
        max_steps=1,
    )
    built = build(text)
    trainer = setup(built, None)
    before = weights(trainer.model)
    trainer.step()
    after = weights(trainer.model)
    assert max((after[k] - before[k]).abs().max().item() for k in before) <= 0.001 + 1e-7


@pytest.mark.parametrize(("interval", "factor"), [("epoch", 0.5**2), ("step", 0.5**12)])
def test_the_scheduler_steps_per_epoch_or_per_update(manager, interval: str, factor: float) -> None:  # type: ignore[no-untyped-def]
    text = with_lines(
        BASE,
        scheduler="!torch.optim.lr_scheduler.StepLR {step_size: 1, gamma: 0.5}",
        scheduler_interval=interval,
        max_steps=2,
    )
    built = build(text)
    setup(built, None).run()
    assert built.root.optim.param_groups[0]["lr"] == pytest.approx(0.01 * factor)


def test_patience_stops_early_and_the_best_step_is_kept(manager) -> None:  # type: ignore[no-untyped-def]
    text = with_lines(BASE, optimizer="!torch.optim.SGD {lr: 0.0}", patience=2, max_steps=10)
    built = build(text)
    trainer = setup(built, None)
    trainer.run()
    assert trainer.steps_done == 3 and trainer.best_step == 1  # nothing improves after the first step


def test_a_lower_is_better_metric_and_val_mode(manager) -> None:  # type: ignore[no-untyped-def]
    built = build(with_lines(BASE, val_metric="val_loss"))
    assert (built.root.val_metric, built.root.val_mode) == ("loss", "min")
    built = build(with_lines(BASE, val_metric="accuracy", val_mode="min"))
    assert built.root.val_mode == "min"


# -- progress ---------------------------------------------------------------------------------------------------


def test_on_a_terminal_a_progress_bar_shows_iterations_loss_throughput_and_eta(manager) -> None:  # type: ignore[no-untyped-def]
    import rich
    from rich.console import Console

    from torchon_torch.progress import StepProgress

    screen = io.StringIO()
    rich.reconfigure(file=screen, force_terminal=True, color_system=None, width=120)
    try:
        bar = StepProgress(3, logging.getLogger("test"), live=True)
        assert bar.live
        bar.start_step(1, 100)
        for done in range(1, 51):
            time.sleep(0.004)
            bar.tick(done, lambda: 0.25)
        bar._bar.refresh()
        shown = screen.getvalue()
        bar.close()
    finally:
        rich.reconfigure()
    assert "step 1/3" in shown and "/100 it" in shown and "loss 0.2500" in shown and "it/s" in shown
    assert "ETA" in shown
    assert isinstance(rich.get_console(), Console)


# -- the example -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_digits_example_reaches_95_percent_in_under_a_minute(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    assert run_config(REPO / "examples" / "digits" / "train.yaml", output=str(tmp_path / "out")) == 0
    seconds = time.perf_counter() - started
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["best"]["value"] >= 0.95 and summary["metrics"]["val_accuracy"] >= 0.95
    assert seconds < 60


def test_the_docs_show_a_trainer_config_with_every_option(manager) -> None:  # type: ignore[no-untyped-def]
    import re

    from torchon.component import init_signature
    from torchon_torch.trainer import Trainer

    page = (REPO / "docs" / "trainer.md").read_text()
    section = page.split("### Every option", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)  # type: ignore[union-attr]
    written = set(re.findall(r"^(\w+):", block, flags=re.M))
    assert written == set(init_signature(Trainer).parameters)
    trainer = loads(block, "trainer.md").build().root
    assert isinstance(trainer, Trainer) and trainer.val_mode == "max"


def test_checkpoint_every_n_steps_resumes_from_the_last_one_bit_exactly(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = with_lines(BASE, max_steps=5, checkpoint_every=2).replace(
        "!torch.nn.ReLU {}", "!torch.nn.Dropout {p: 0.3}"
    )
    straight = build(text)
    setup(straight, tmp_path / "a").run()
    teardown(straight)

    first = build(text)
    trainer = setup(first, tmp_path / "b")
    for _ in range(3):  # then "crash": the last checkpoint is step 2's
        trainer.step()
    teardown(first)
    assert torchon.load(tmp_path / "b" / "checkpoints" / "last").progress["steps_done"] == 2

    again = build(text)
    resumed = setup(again, tmp_path / "b", resume=True)
    assert resumed.steps_done == 2
    resumed.run()
    teardown(again)
    assert torchon.load(tmp_path / "b" / "checkpoints" / "last").progress["steps_done"] == 5  # after the last
    assert same(weights(resumed.model), weights(straight.root.model))
