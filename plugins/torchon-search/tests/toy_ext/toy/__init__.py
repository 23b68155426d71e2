"""A small extension for torchon-search's tests: a searchable Train, a Model with state, an Evaluate stage."""

import ctypes
import os
import sys
import time
from pathlib import Path

import torchon


def _log(name: str, text: str) -> None:
    out = torchon.get_env().output_dir
    if out:
        with open(Path(out) / name, "a", encoding="utf-8") as f:
            f.write(text + "\n")


class Model(torchon.Component):
    def __init__(self, width: int = 4) -> None:
        self.width = width
        self.weights = [0.0] * width


class Other(torchon.Component):
    def __init__(self, depth: int = 1) -> None:
        self.depth = depth
        self.weights = [0.0] * depth


class Train(torchon.Runnable):
    """loss = |lr - 0.05| + 1 / (epoch * width): lower for lr near 0.05 and wide models."""

    def __init__(
        self,
        model: Model | Other,
        lr: float = 0.1,
        epochs: int = 3,
        fail: str = "",
        sleep: float = 0.0,
        report_as: str = "loss",
    ) -> None:
        self.model, self.lr, self.epochs, self.fail, self.sleep, self.report_as = (
            model,
            lr,
            epochs,
            fail,
            sleep,
            report_as,
        )
        self.epoch = 0

    def step(self) -> bool:
        self.epoch += 1
        _log("steps.log", f"{self.epoch} {os.getpid()}")
        if self.sleep:
            time.sleep(self.sleep)
        if self.fail == "raise" and self.epoch == 2:
            raise ValueError("diverged")
        if self.fail == "exit":
            sys.exit(4)
        if self.fail == "segfault":
            ctypes.string_at(0)
        if self.fail == "oom":
            os.kill(os.getpid(), 9)
        if self.fail == "memory":
            _hog = bytearray(2 * 1024**3)
        self.model.weights = [w + self.lr for w in self.model.weights]
        width = getattr(self.model, "width", None) or getattr(self.model, "depth", 1)
        self.report(step=self.epoch, **{self.report_as: abs(self.lr - 0.05) + 1.0 / (self.epoch * width)})
        return self.epoch < self.epochs


class Evaluate(torchon.Runnable):
    def __init__(self, model: Model, scale: float = 1.0) -> None:
        self.model, self.scale = model, scale

    def run(self) -> None:
        _log("evaluate.log", f"{sum(self.model.weights)}")
        self.report(score=sum(self.model.weights) * self.scale)


class Meet(torchon.Runnable):
    """Writes when it starts, waits (up to ``patience`` seconds) for the ``other`` one to have started, writes
    when it ends: two of them overlap in time only if they run at the same time."""

    def __init__(self, folder: str, name: str, other: str = "", patience: float = 30.0) -> None:
        self.folder, self.name, self.other, self.patience = folder, name, other, patience
        self.met = False

    def run(self) -> None:
        folder = Path(self.folder)
        (folder / f"{self.name}.start").write_text(repr(time.time()))
        deadline = time.monotonic() + self.patience
        while self.other and time.monotonic() < deadline and not self.met:
            self.met = (folder / f"{self.other}.start").exists()
            time.sleep(0.01)
        (folder / f"{self.name}.end").write_text(repr(time.time()))
        self.report(met=float(self.met))


class Join(torchon.Runnable):
    """Links to two stages; writes when it starts."""

    def __init__(self, left: Meet, right: Meet, folder: str) -> None:
        self.left, self.right, self.folder = left, right, folder

    def run(self) -> None:
        (Path(self.folder) / "join.start").write_text(repr(time.time()))
        self.report(met=float(self.left.met and self.right.met))
