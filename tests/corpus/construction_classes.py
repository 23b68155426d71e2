"""Classes for tests/test_construction.py: the state rule (importable, so their bundles load in other places)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

import torchon


class VocabModel(torchon.Component):
    """Verta's class model as its users write it: everything comes from the artifacts; no get_state."""

    def __init__(self, artifacts: dict) -> None:
        self.artifacts = artifacts
        self.words = set(Path(artifacts["vocab"]).read_text().split())
        self.weights = np.load(artifacts["weights"])
        self.lock = threading.Lock()  # an object nothing can save, made from nothing: rebuilt too
        self.calls = 0

    def predict(self, data: list[str]) -> list[float]:
        self.calls += 1  # changes after construction: state from now on
        return [float(sum(self.weights[i] for i, w in enumerate(sorted(self.words)) if w in t)) for t in data]


class Estimator:
    """Stands for a scikit-learn estimator: fit() adds attributes."""

    def __init__(self, c: float = 1.0) -> None:
        self.c = c

    def fit(self) -> Estimator:
        self.coef_ = [1.0, 2.0]
        return self


class Pipeline(torchon.Component):
    def __init__(self, c: float = 1.0, size: int = 3) -> None:
        self.estimator = Estimator(c)
        self.table = np.zeros(size)
        self.history: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        self.options = {"mode": "fast", "levels": [1, 2]}
        self.frozen = np.arange(size)
        self.frozen.flags.writeable = False


class WithStateDict:
    def state_dict(self) -> dict[str, Any]:
        return {}


class Holder(torchon.Component):
    def __init__(self) -> None:
        self.module = WithStateDict()


class Base(torchon.Component):
    def __init__(self, n: int = 2) -> None:
        self.values = [0] * n


class Derived(Base):
    def __init__(self, n: int = 2, extra: str = "x") -> None:
        super().__init__(n)
        self.label = extra * 2  # set after the base's __init__, still construction


class Schedule(torchon.Component):
    def __init__(self, lr: float = 0.5) -> None:
        self.current = lr * 1.0  # a float object of its own
