"""The Trainer's speed against a hand-written PyTorch loop doing the same work, and the cost of its checkpoints.

Figures:
- ``trainer-digits``: training iterations per second of ``!Trainer`` on the digits MLP (64 -> 128 -> 10, batch 64,
  Adam; a step is one pass over the 1,437 training images, then validation on 360) with its default logging,
  progress, metrics records and TensorBoard scalars on, against a hand-written loop doing the same work: the same
  seed, the same batches in the same order, the same validation (loss and accuracy) and a copy of the best weights
  after each step. Checkpoints are off on both sides (``checkpoint: false``): their cost is the figure below.
  The two runs must end with bit-identical weights, which the script checks. Goal: ratio >= 0.97.
- ``trainer-mlp``: the same on a larger synthetic MLP (512 -> 1024 -> 1024 -> 10, batch 128, 50 batches a step),
  where compute dominates. Goal: ratio >= 0.97.
- ``trainer-checkpoint-digits`` and ``trainer-checkpoint-mlp``: what the checkpoint written after every step
  (model, optimizer, generators... as a bundle, fsync included) adds to the run, end to end: the time of a run with
  checkpoints over the time of the same run without, minus 1 — as a fraction of the step time. The default writes
  them in a background thread while the next step trains; the note gives the share spent in the training thread,
  the write's own time, and the same fraction with ``async_checkpoint: false``. The issue asks for this figure to
  be reported; the goal of a quarter of a step is ours. No anchor: the ratio is that fraction; goal <= 0.25, a checkpoint costing at most a
  quarter of a step.

Runs alternate the Trainer and the hand loop, after a warm-up; the figure is the median over the rounds of each
round's ratio (both sides run back to back in a round), with the median rates as torchon= and anchor=. When Lightning is installed
its ``Trainer.fit`` on the digits MLP is measured too and its ratio printed (a note, not a figure): the issue quotes
0.46x the hand loop without its progress bar and 0.38x with it. Run: ``python benchmarks/bench_trainer.py``
(about a minute; needs torchon-torch).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROUNDS = 5


def digits_data() -> tuple[Any, Any]:
    from torchon_torch.datasets import DigitsData

    train, val = DigitsData("train"), DigitsData("val")
    train.setup()
    val.setup()
    return train, val


def synthetic_data() -> tuple[Any, Any]:
    import torch
    from torch.utils.data import TensorDataset

    gen = torch.Generator().manual_seed(0)
    weights = torch.randn(512, 10, generator=gen)

    def make(n: int) -> TensorDataset:
        x = torch.randn(n, 512, generator=gen)
        return TensorDataset(x, (x @ weights).argmax(dim=1))

    return make(6400), make(1280)


def digits_model() -> Any:
    from torch import nn

    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def mlp_model() -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
    )


class Case:
    def __init__(
        self, name: str, data: Any, model: Any, batch: int, per_step: int | None, steps: int, lr: float
    ):
        self.name, self.data, self.model, self.batch = name, data, model, batch
        self.per_step, self.steps, self.lr = per_step, steps, lr


def hand_loop(case: Case) -> tuple[float, int, dict[str, Any]]:
    """What one would write by hand: seconds, iterations, final weights."""
    import torch
    from torch import nn

    from torchon_torch.checkpoint import seed_everything

    train, val = case.data
    (x, y), (vx, vy) = train.tensors, val.tensors
    torch.manual_seed(0)
    model = case.model()
    optimizer = torch.optim.Adam(model.parameters(), lr=case.lr)
    loss_fn = nn.CrossEntropyLoss()
    seed_everything(0)
    n, batch = len(y), case.batch
    per_epoch = -(-n // batch)
    per_step = case.per_step or per_epoch
    epoch, position, order = 0, 0, None
    best, best_weights = -1.0, None
    iterations = 0
    start = time.perf_counter()
    for _step in range(case.steps):
        model.train()
        total = 0.0
        for _ in range(per_step):
            if order is None:
                order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
            idx = order[position * batch : (position + 1) * batch]
            loss = loss_fn(model(x[idx]), y[idx])
            total += loss.item()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            iterations += 1
            position += 1
            if position == per_epoch:
                epoch, position, order = epoch + 1, 0, None
        model.eval()
        with torch.no_grad():
            loss_sum, correct = 0.0, 0
            for i in range(0, len(vy), batch):
                out = model(vx[i : i + batch])
                loss_sum += loss_fn(out, vy[i : i + batch]).item() * len(out)
                correct += int((out.argmax(1) == vy[i : i + batch]).sum())
        accuracy = correct / len(vy)
        if accuracy > best:
            best, best_weights = accuracy, {k: v.detach().clone() for k, v in model.state_dict().items()}
        _ = (total / per_step, loss_sum / len(vy), best_weights)
    seconds = time.perf_counter() - start
    return seconds, iterations, {k: v.detach().clone() for k, v in model.state_dict().items()}


def with_trainer(
    case: Case, folder: Path, *, checkpoint: bool, background: bool = True
) -> tuple[float, int, dict[str, Any], Any]:
    """The Trainer, as ``torchon run`` drives it (metrics recorded, logs to a file): seconds of its steps."""
    import torch

    import torchon
    from torchon import metrics
    from torchon.component import Context, Partial
    from torchon_torch.trainer import Trainer

    train, val = case.data
    torch.manual_seed(0)
    trainer = Trainer(
        model=case.model(),
        train_data=train,
        val_data=val,
        batch_size=case.batch,
        optimizer=Partial(torch.optim.Adam, {"lr": case.lr}),
        metrics=["accuracy"],
        val_metric="accuracy",
        max_steps=case.steps,
        iterations_per_step=case.per_step,
        seed=0,
        checkpoint=checkpoint,
        async_checkpoint=background,
    )
    folder.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger("torchon.run")
    handler = logging.FileHandler(folder / "run.log")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    metrics.start_recording(folder / "metrics.jsonl")
    trainer.setup(Context(env=torchon.get_env(), output_dir=folder, logger=log))
    try:
        start = time.perf_counter()
        while trainer.step():
            pass
        seconds = time.perf_counter() - start
        writer = trainer._writer
    finally:
        trainer.teardown()
        metrics.stop_recording()
        log.removeHandler(handler)
        handler.close()
    final = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    trainer._writer_seconds = writer.seconds if writer is not None else 0.0
    return seconds, trainer.iterations_done, final, trainer


def lightning_ratio(case: Case, anchor_rate: float) -> str:
    try:
        import lightning as L
    except ImportError:
        return "lightning not installed"
    import torch
    from torch.utils.data import DataLoader

    train, _ = case.data

    class Module(L.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = case.model()

        def training_step(self, batch: Any, _: int) -> Any:
            x, y = batch
            return torch.nn.functional.cross_entropy(self.model(x), y)

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=case.lr)

    iterations = 1000
    fit = L.Trainer(max_steps=iterations, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    loader = DataLoader(train, batch_size=case.batch, shuffle=True)
    start = time.perf_counter()
    fit.fit(Module(), loader)
    rate = iterations / (time.perf_counter() - start)
    return f"lightning {L.__version__}: ratio={rate / anchor_rate:.2f} (no progress bar, no validation)"


def measure(case: Case, rounds: int) -> None:
    import torch

    ours, theirs, checkpoint_fractions, critical, writes, sync_fractions = [], [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="torchon-bench-trainer-") as tmp:
        root = Path(tmp)
        hand_loop(case)  # warm-up: first-call costs (allocator, kernels) on neither side's clock
        with_trainer(case, root / "warm", checkpoint=False)
        same = True
        for r in range(rounds):
            seconds, iterations, reference = hand_loop(case)
            theirs.append(iterations / seconds)
            seconds, iterations, final, _ = with_trainer(case, root / f"t{r}", checkpoint=False)
            ours.append(iterations / seconds)
            same = same and all(torch.equal(final[k], reference[k]) for k in reference)
            seconds_on, _, _, trainer = with_trainer(case, root / f"c{r}", checkpoint=True)
            t = trainer.timings
            critical.append(t["checkpoint"] / (t["train"] + t["validate"]))
            checkpoint_fractions.append(seconds_on / seconds - 1)
            writes.append(trainer._writer_seconds / case.steps)
            seconds_sync, _, _, _ = with_trainer(case, root / f"s{r}", checkpoint=True, background=False)
            sync_fractions.append(seconds_sync / seconds - 1)
    # each round runs both sides back to back: the median of the rounds' ratios cancels the slow drifts of a
    # shared machine better than a ratio of medians
    ratio = statistics.median(t / h for t, h in zip(ours, theirs))
    rate, anchor = statistics.median(ours), statistics.median(theirs)
    print(
        f"BENCH trainer-{case.name}: ratio={ratio:.3f} goal=>=0.97 torchon={rate:.0f}it/s "
        f"anchor={anchor:.0f}it/s (hand loop, same batches; weights bit-identical: {'yes' if same else 'NO'}; "
        f"median of {rounds} paired rounds, best {max(ours):.0f} / {max(theirs):.0f} it/s; {case.steps} steps; "
        f"{lightning_ratio(case, anchor) if case.name == 'digits' else 'checkpoints off'})"
    )
    fraction = statistics.median(checkpoint_fractions)
    step_seconds = case.steps and (iterations / rate) / case.steps
    print(
        f"BENCH trainer-checkpoint-{case.name}: ratio={fraction:.3f} goal=<=0.25 "
        f"torchon={fraction * step_seconds * 1000:.1f}ms anchor={step_seconds * 1000:.1f}ms (what a checkpoint "
        f"after every step adds to the step, end to end, written in the background (the default); "
        f"{statistics.median(critical):.3f} of it spent in the training thread, the write itself "
        f"{statistics.median(writes) * 1000:.1f}ms in its thread; written before step() returns instead "
        f"(async_checkpoint: false): {statistics.median(sync_fractions):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--only", choices=["digits", "mlp"], help="measure one case")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    logging.getLogger("torchon").setLevel(logging.WARNING)
    cases = [
        Case("digits", digits_data(), digits_model, batch=64, per_step=None, steps=44, lr=0.003),  # ~1,000 it
        Case("mlp", synthetic_data(), mlp_model, batch=128, per_step=50, steps=4, lr=0.001),
    ]
    for case in cases:
        if args.only in (None, case.name):
            measure(case, args.rounds)
    sys.stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # a benchmark measures, it does not fail the build
        print(f"bench_trainer failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(0)
