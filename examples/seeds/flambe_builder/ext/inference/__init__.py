"""The extension of Flambé's Exporter/Builder page: a classifier trained by ``torchon run train.yaml`` and the
engine that serves it, written exactly as Flambé users write it (a plain class, keyword arguments in ``predict``).

numpy only. The module is ``inference``; the configs declare its folder as a local extension (``inference: ./ext``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import torchon


class MyBinaryClassifier(torchon.Component):
    """Logistic regression on two features: the probability that a row is POSITIVE."""

    def __init__(self, lr: float = 0.5, epochs: int = 300) -> None:
        self.lr = lr
        self.epochs = epochs
        self.weights = np.zeros(2)  # learned: saved as .npy
        self.bias = 0.0  # learned: saved as JSON

    def fit(self, x: np.ndarray, y: np.ndarray) -> MyBinaryClassifier:
        for _ in range(self.epochs):
            p = self.probability(x[:, 0], x[:, 1])
            self.weights = self.weights - self.lr * x.T @ (p - y) / len(y)
            self.bias = float(self.bias - self.lr * np.mean(p - y))
        return self

    def probability(self, feature_1, feature_2):
        z = self.weights[0] * np.asarray(feature_1, dtype=float) + self.weights[1] * np.asarray(
            feature_2, dtype=float
        )
        return 1.0 / (1.0 + np.exp(-(z + self.bias)))


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two features; POSITIVE when 2 * feature_1 - feature_2 + noise > 0.5."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = (2 * x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=n) > 0.5).astype(float)
    return x, y


class Train(torchon.Runnable):
    """Fits the classifier on seeded data and saves it under the run's output folder."""

    def __init__(self, model: MyBinaryClassifier, n: int = 500, seed: int = 0) -> None:
        self.model = model
        self.n = n
        self.seed = seed

    def run(self) -> None:
        x, y = make_data(self.n, self.seed)
        self.model.fit(x, y)
        accuracy = float(np.mean((self.model.probability(x[:, 0], x[:, 1]) > 0.5) == y))
        torchon.report(accuracy=accuracy)
        torchon.save(self.model, Path(torchon.get_env().output_dir) / "model")
        print(f"accuracy {accuracy:.3f}; saved {Path(torchon.get_env().output_dir) / 'model'}")


class ClassifierEngine(object):  # noqa: UP004  (written exactly as Flambé users write it)
    def __init__(self, model: MyBinaryClassifier):
        self.model = model

    def predict(self, **kwargs):
        p = float(self.model.probability(kwargs["feature_1"], kwargs["feature_2"]))
        return {"POSITIVE": p, "NEGATIVE": 1 - p}
