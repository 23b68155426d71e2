"""A test plugin: components to save to S3 (``!Weights``, ``!Holder``)."""

from __future__ import annotations

import numpy as np

import torchon
from torchon.hookspecs import hookimpl
from torchon.registry import TagRegistry


class Weights(torchon.Component):
    """``size`` float32 numbers drawn from ``seed``: its state is one .npy file of ``4 * size`` bytes."""

    def __init__(self, size: int = 16, seed: int = 0) -> None:
        self.size = size
        self.seed = seed
        self.values = np.random.default_rng(seed).random(size, dtype=np.float32)

    def get_state(self) -> dict[str, np.ndarray]:
        # As if learned: saved although __init__ could draw it again, so there are bytes to upload.
        return {"values": self.values}


class Holder(torchon.Component):
    def __init__(self, weights: Weights, name: str = "holder") -> None:
        self.weights = weights
        self.name = name
        self.note = ""


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    tags.add("Weights", "s3_corpus:Weights")
    tags.add("Holder", "s3_corpus:Holder")
