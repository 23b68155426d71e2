"""Neuraxle's saver chain, in torchon: a pipeline of two steps, one of which holds a ``queue.Queue`` made in
``setup()`` that no saver can write. ``QueueSaver`` strips it on save and makes a fresh one on load, as Neuraxle's
docs do for their queued steps; everything else (numpy arrays training changed) goes through the default chain.
"""

from __future__ import annotations

import json
import queue

import numpy as np

import torchon


class QueueSaver(torchon.Saver):
    """Drops the queues of a step on save (only their names are written) and makes fresh, empty ones on load."""

    name = "queue"
    safety = "data"  # loading runs no code: it reads a JSON list of names

    def can_save(self, obj, state):
        return any(isinstance(value, queue.Queue) for value in state.values())

    def save(self, obj, state, folder):
        names = sorted(k for k, v in state.items() if isinstance(v, queue.Queue))
        folder.write_text("queues.json", json.dumps(names))
        return {k: v for k, v in state.items() if k not in names}

    def load(self, obj, state, folder):
        names = json.loads(folder.read_text("queues.json"))
        return {**state, **{name: queue.Queue() for name in names}}


class StandardScaler(torchon.Component):
    """Centres and scales each column; ``fit`` learns the means and standard deviations."""

    def __init__(self) -> None:
        self.mean = np.zeros(0)
        self.std = np.ones(0)

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> StandardScaler:
        self.mean = x.mean(axis=0)
        self.std = x.std(axis=0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


class QueuedLinearModel(torchon.Component):
    """Least squares with a bias; every prediction is also put on ``outbox`` for a consumer (a monitor, a writer)."""

    savers = (QueueSaver,)  # after the default JSON saver; on save it runs first and takes the queue out

    def __init__(self, ridge: float = 0.0) -> None:
        self.ridge = ridge
        self.coef = np.zeros(0)

    def setup(self, context=None) -> None:
        self.outbox = queue.Queue()  # made after construction: state no saver could write as it is

    def fit(self, x: np.ndarray, y: np.ndarray) -> QueuedLinearModel:
        a = np.hstack([x, np.ones((len(x), 1))])
        self.coef = np.linalg.solve(a.T @ a + self.ridge * np.eye(a.shape[1]), a.T @ y)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        out = x @ self.coef[:-1] + self.coef[-1]
        self.outbox.put(out)
        return out


class Pipeline(torchon.Component):
    """Steps run in order: each is fitted on what the previous ones output."""

    def __init__(self, steps: list) -> None:
        self.steps = steps

    def setup(self, context=None) -> None:
        for step in self.steps:
            step.setup(context)

    def fit(self, x: np.ndarray, y: np.ndarray) -> Pipeline:
        for step in self.steps:
            step.fit(x, y)
            x = step.transform(x)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        for step in self.steps:
            x = step.transform(x)
        return x
