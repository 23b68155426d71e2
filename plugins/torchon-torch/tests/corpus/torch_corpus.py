"""A test plugin: components that hold torch objects, as a user's Trainer would. Tests put this folder on
``sys.path`` and load it with ``PluginManager.from_options(["torch", "torch_corpus"])``."""

from __future__ import annotations

import torch
from torch import nn

import torchon
from torchon import Partial


class TinyNet(torchon.Component, nn.Module):
    """A component that is a module, built in Python or from a config."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, width), nn.BatchNorm1d(width), nn.Tanh())
        self.head = nn.Linear(width, 1)
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class Wrapper(torchon.Component):
    """Not a module: makes one in __init__, as a user's model wrapper would; trained in place afterwards."""

    def __init__(self, width: int = 2) -> None:
        self.net = nn.Linear(3, width)


class Fit(torchon.Runnable):
    """Trains ``model`` a step at a time on data fixed by the step number, so two runs can be compared bit for bit."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: Partial[torch.optim.Optimizer],
        scheduler: Partial[torch.optim.lr_scheduler.LRScheduler] | None = None,
        steps: int = 3,
    ) -> None:
        self.model = model
        self.steps = steps
        self.opt = optimizer(model.parameters())
        self.sched = scheduler(self.opt) if scheduler is not None else None
        self.done = 0
        self.best = torch.tensor(float("inf"))
        self._probe = nn.Linear(64, 64)  # private: not saved; a load builds it afresh, initialised as usual

    def step(self) -> bool:
        gen = torch.Generator().manual_seed(self.done)
        x, y = torch.randn(8, 3, generator=gen), torch.randn(8, 1, generator=gen)
        self.opt.zero_grad()
        loss = nn.functional.mse_loss(self.model(x), y)
        loss.backward()
        self.opt.step()
        if self.sched is not None:
            self.sched.step()
        self.done += 1
        self.best = torch.minimum(self.best, loss.detach())
        return self.done < self.steps


@torchon.hookimpl
def torchon_register_tags(tags):  # type: ignore[no-untyped-def]
    tags.add("TinyNet", "torch_corpus:TinyNet")
    tags.add("Fit", "torch_corpus:Fit")
