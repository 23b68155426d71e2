"""Small data sets that ship with their packages, for examples and tests: nothing is downloaded.

``!DigitsData`` is scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), split into training,
validation and (when asked for) test parts by stratified, seeded splits. It loads in ``setup`` (``__init__`` stays cheap, as components'
do) and holds the data as in-memory tensors, which the Trainer batches by slicing.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch.utils.data import Dataset

import torchon
from torchon.api import ArgumentError

__all__ = ["DigitsData"]


class DigitsData(torchon.Component, Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """scikit-learn's digits: inputs are 64 pixel values scaled to [0, 1] (float32), targets the digit (int64).

    :param split: ``train``, ``val`` (a stratified ``val_fraction`` of the samples), ``test`` (a stratified
        ``test_fraction`` of them, set aside before the others are split) or ``all``.
    :param val_fraction: the share of the samples (those not set aside for testing) held out for validation.
    :param test_fraction: the share of all samples set aside for testing; give the same value to every part of
        one experiment (its train, val and test), so that none of them overlap. 0: no test part.
    :param seed: the seed of the splits; the parts of one seed and test_fraction never overlap.
    """

    def __init__(
        self,
        split: Literal["train", "val", "test", "all"] = "train",
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not 0.0 < val_fraction < 1.0:
            raise ArgumentError(
                "val_fraction", f"must be between 0 and 1, got {val_fraction}", fix="e.g. 0.2"
            )
        if not 0.0 <= test_fraction < 1.0:
            raise ArgumentError("test_fraction", f"must be in [0, 1), got {test_fraction}", fix="e.g. 0.2")
        if split == "test" and test_fraction == 0.0:
            raise ArgumentError(
                "test_fraction",
                "split: test needs a test part, and test_fraction is 0",
                fix="give test_fraction (e.g. 0.2), the same to the train and val parts",
            )
        self.split = split
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
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
            if self.split != "all" and self.test_fraction > 0.0:
                x, x_test, y, y_test = train_test_split(
                    x, y, test_size=self.test_fraction, random_state=self.seed, stratify=y
                )
                if self.split == "test":
                    x, y = x_test, y_test
            if self.split in ("train", "val"):
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
