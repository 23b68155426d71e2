"""A test extension: small synthetic classification data, made from a seed (no files, no scikit-learn)."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

import torchon


class Blobs(torchon.Component, Dataset):  # type: ignore[type-arg]
    """``n`` samples of ``features`` normal inputs; the class is which of the first ``classes`` inputs is largest.
    ``poison``: the first this many inputs are NaN (to make the loss NaN)."""

    def __init__(
        self, n: int = 200, features: int = 8, classes: int = 3, seed: int = 0, poison: int = 0
    ) -> None:
        self.n, self.features, self.classes, self.seed, self.poison = n, features, classes, seed, poison

    def get_state(self) -> dict:  # type: ignore[type-arg]
        return {}

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed)
        x = torch.randn(self.n, self.features, generator=gen)
        y = x[:, : self.classes].argmax(dim=1)
        x[: self.poison] = float("nan")
        return x, y

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.tensors
        return x[index], y[index]
