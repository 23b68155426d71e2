"""An example trainer: a runnable that fits a model one epoch per ``step()`` and reports its loss."""

from __future__ import annotations

from torchon import Runnable

from .model import LinearModel


def _dataset() -> list[tuple[float, float]]:
    """21 points on y = 2x + 1."""
    return [(x / 10, 2 * (x / 10) + 1) for x in range(-10, 11)]


class MyTrainer(Runnable):
    """Fits ``model`` to y = 2x + 1 by gradient descent.

    ``step()`` runs one epoch and reports ``loss``, which makes the trainer searchable: a search can stop it
    early between steps. When the torchon-torch plugin is available this will subclass its ``Trainer``; until
    then it is a plain :class:`torchon.Runnable`.
    """

    def __init__(
        self, model: LinearModel, lr: float = 0.5, epochs: int = 200, target_loss: float = 1e-6
    ) -> None:
        self.model = model
        self.lr = lr
        self.epochs = epochs
        self.target_loss = target_loss
        self.epoch = 0
        self.loss = float("inf")

    def step(self) -> bool:
        data = _dataset()
        grad_w = grad_b = total = 0.0
        for x, y in data:
            error = self.model.predict(x) - y
            total += error * error
            grad_w += 2 * error * x
            grad_b += 2 * error
        self.model.weight -= self.lr * grad_w / len(data)
        self.model.bias -= self.lr * grad_b / len(data)
        self.epoch += 1
        self.loss = total / len(data)
        self.report(step=self.epoch, loss=self.loss)
        return self.epoch < self.epochs and self.loss > self.target_loss
