"""A small extension for torchon-mlflow's tests: a model that predicts (numpy), and a searchable runnable."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import torchon


class Linear(torchon.Component):
    """``x @ weights + bias`` for rows of ``n`` numbers."""

    def __init__(self, n: int = 2, scale: float = 1.0) -> None:
        self.n = n
        self.scale = scale
        self.weights = np.arange(1, n + 1, dtype=np.float64) * scale
        self.bias = 0.5

    def predict(self, data: Any) -> list[float]:
        x = np.asarray(data, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n:
            raise ValueError(f"expected rows of {self.n} numbers, got an array of shape {x.shape}")
        return (x @ self.weights + self.bias).tolist()


class Train(torchon.Runnable):
    """loss = |lr - 0.05| + 1 / (epoch * width): lower for lr near 0.05; ``sleep`` seconds a step."""

    def __init__(self, lr: float = 0.1, width: int = 4, epochs: int = 3, sleep: float = 0.0) -> None:
        self.lr, self.width, self.epochs, self.sleep = lr, width, epochs, sleep
        self.epoch = 0

    def step(self) -> bool:
        self.epoch += 1
        if self.sleep:
            time.sleep(self.sleep)
        self.report(step=self.epoch, loss=abs(self.lr - 0.05) + 1.0 / (self.epoch * self.width), lr=self.lr)
        return self.epoch < self.epochs

    def run(self) -> None:
        while self.step():
            pass
