"""Small data sets that ship with their packages, for examples and tests: nothing is downloaded.

``!DigitsData`` is scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), split into a training and a
validation part by a stratified, seeded split. It loads in ``setup`` (``__init__`` stays cheap, as components'
do) and holds the data as in-memory tensors, which the Trainer batches by slicing.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch.utils.data import Dataset

import torchon

__all__ = ["DigitsData"]


class DigitsData(torchon.Component, Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """scikit-learn's digits: inputs are 64 pixel values scaled to [0, 1] (float32), targets the digit (int64).

    :param split: ``train``, ``val`` (a stratified ``val_fraction`` of the samples) or ``all``.
    :param val_fraction: the share of samples held out for validation.
    :param seed: the seed of the split; the training and validation parts of one seed never overlap.
    """

    def __init__(
        self, split: Literal["train", "val", "all"] = "train", val_fraction: float = 0.2, seed: int = 0
    ) -> None:
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
        self.split = split
        self.val_fraction = val_fraction
        self.seed = seed
        self._tensors: tuple[torch.Tensor, torch.Tensor] | None = None

    def get_state(self) -> dict[str, Any]:
        return {}  # the data come from scikit-learn again: nothing to save

    def setup(self, context: torchon.Context | None = None) -> None:
        self.load()

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._tensors is None:
            import numpy as np
            from sklearn.datasets import load_digits
            from sklearn.model_selection import train_test_split

            digits = load_digits()
            x = (digits.data / 16.0).astype(np.float32)
            y = digits.target.astype(np.int64)
            if self.split != "all":
                parts = train_test_split(
                    x, y, test_size=self.val_fraction, random_state=self.seed, stratify=y
                )
                x, y = (parts[0], parts[2]) if self.split == "train" else (parts[1], parts[3])
            self._tensors = (torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))
        return self._tensors

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.load()

    def __len__(self) -> int:
        return len(self.load()[1])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.load()
        return x[index], y[index]
