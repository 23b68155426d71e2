"""A test plugin: models to export and serve (``!Classifier``, ``!Engine``, ``!TextModel``, ``!Boom``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import torchon
from torchon.hookspecs import hookimpl
from torchon.registry import TagRegistry


class Classifier(torchon.Component):
    """A binary logistic-regression classifier on ``n_features`` numbers."""

    def __init__(self, n_features: int = 2) -> None:
        self.n_features = n_features
        self.weights = np.zeros(n_features, dtype=np.float64)
        self.bias = 0.0

    def fit(self, x: Any, y: Any, steps: int = 300, lr: float = 0.5) -> Classifier:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        for _ in range(steps):
            p = 1 / (1 + np.exp(-(x @ self.weights + self.bias)))
            self.weights -= lr * x.T @ (p - y) / len(y)
            self.bias -= float(lr * np.mean(p - y))
        return self

    def scores(self, data: Any) -> np.ndarray:
        x = np.asarray(data, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} numbers, got an array of shape {x.shape}")
        return 1 / (1 + np.exp(-(x @ self.weights + self.bias)))

    def predict(self, data: Any) -> list[int]:
        """Class 0 or 1 for each row."""
        return (self.scores(data) > 0.5).astype(int).tolist()


class Engine(torchon.Component):
    """What gets deployed: a classifier with a decision threshold."""

    def __init__(self, model: Classifier, threshold: float = 0.5) -> None:
        self.model = model
        self.threshold = threshold

    def predict(self, data: Any) -> dict[str, Any]:
        """Labels and scores for rows of features."""
        scores = self.model.scores(data)
        return {"labels": (scores > self.threshold).astype(int), "scores": np.round(scores, 6)}


class TextModel(torchon.Component):
    """A class model as Verta writes them: built from a dict of artifacts (local paths), with predict()."""

    def __init__(self, artifacts: dict[str, str]) -> None:
        self.artifacts = artifacts
        self.vocab = Path(artifacts["vocab"]).read_text().split()
        self.weights = np.load(artifacts["weights"])

    def predict(self, texts: list[str]) -> list[float]:
        """A score per text: the sum of its known words' weights."""
        index = {w: i for i, w in enumerate(self.vocab)}
        return [float(sum(self.weights[index[w]] for w in t.split() if w in index)) for t in texts]

    def get_state(self) -> dict[str, Any]:
        return {}  # everything comes from the artifacts


class Boom(torchon.Component):
    def __init__(self, mode: str = "raise") -> None:
        self.mode = mode

    def predict(self, data: Any) -> Any:
        if self.mode == "nan":
            return float("nan")
        raise RuntimeError("secret internal detail: /etc/creds at line 3")


class Plain(torchon.Component):
    """Nothing to serve."""


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    for name in ("Classifier", "Engine", "TextModel", "Boom", "Plain"):
        tags.add(name, f"export_corpus:{name}")
