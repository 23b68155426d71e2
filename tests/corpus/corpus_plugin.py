"""A plugin for the kernel's tests: components with typed signatures, a value tag and a namespace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torchon import hookimpl
from torchon.component import Component, Partial, Runnable
from torchon.errors import ArgumentError
from torchon.registry import TagRegistry


class Encoder(Component):
    def __init__(self, dim: int, activation: Literal["relu", "tanh"] = "relu") -> None:
        self.dim = dim
        self.activation = activation


class Model(Component):
    hidden: int  # declared so links may name it before the model is built

    def __init__(
        self, encoder: Encoder | None = None, width: int = 8, dropout: float = 0.0, name: str = "m"
    ) -> None:
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        if not 0.0 <= dropout <= 1.0:
            raise ArgumentError(
                "dropout", f"must be between 0 and 1, got {dropout}", fix="set dropout between 0 and 1"
            )
        self.encoder = encoder
        self.width = width
        self.dropout = dropout
        self.name = name
        self.hidden = width * 2

    @classmethod
    def load_from_path(cls, path: str) -> Model:
        return cls(width=len(path))

    def helper(self) -> None:
        """A plain method: not a factory."""


class Optim(Component):
    def __init__(self, params: list[float], lr: float = 0.1) -> None:
        self.params = params
        self.lr = lr


class Trainer(Runnable):
    def __init__(
        self,
        model: Model,
        optimizer: Partial[Optim] | None = None,
        steps: int = 3,
        tags: list[str] | None = None,
        schedule: Callable[..., Optim] | None = None,
        extra: dict[str, int] | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.steps = steps
        self.tags = tags or []
        self.schedule = schedule
        self.extra = extra or {}
        self.done = 0

    def step(self) -> bool:
        self.done += 1
        self.report(step=self.done, loss=1.0 / self.done)
        return self.done < self.steps


class Pair(Component):
    def __init__(self, first: object, second: object) -> None:
        self.first = first
        self.second = second


def double(value: object) -> object:
    if not isinstance(value, (int, float)):
        raise TypeError("!double takes a number")
    return value * 2


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    tags.add("Encoder", "corpus_plugin:Encoder")
    tags.add("Model", "corpus_plugin:Model")
    tags.add("Optim", "corpus_plugin:Optim")
    tags.add("Trainer", "corpus_plugin:Trainer")
    tags.add("Pair", "corpus_plugin:Pair")
    tags.add_value("double", "corpus_plugin:double", aliases=["dbl"])
    tags.add_namespace("datetime", "datetime")
