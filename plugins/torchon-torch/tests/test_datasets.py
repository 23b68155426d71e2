"""!DigitsData: the example's data, split into parts that never overlap."""

from __future__ import annotations

import pytest
import torch

from torchon.errors import ArgumentError
from torchon_torch.datasets import DigitsData


def rows(data: DigitsData) -> set[bytes]:
    x, _ = data.tensors
    return {row.numpy().tobytes() for row in x}


def test_train_val_and_test_parts_cover_the_data_without_overlapping() -> None:
    parts = {split: DigitsData(split, test_fraction=0.2) for split in ("train", "val", "test")}
    sizes = {split: len(data) for split, data in parts.items()}
    assert sum(sizes.values()) == len(DigitsData("all")) == 1797
    assert sizes["test"] == 360  # 20%, set aside first
    seen = {split: rows(data) for split, data in parts.items()}
    assert (
        not seen["train"] & seen["val"]
        and not seen["train"] & seen["test"]
        and not seen["val"] & seen["test"]
    )
    for data in parts.values():  # stratified: every digit in every part
        assert set(torch.unique(data.tensors[1]).tolist()) == set(range(10))


def test_without_a_test_part_train_and_val_are_as_before() -> None:
    assert (len(DigitsData("train")), len(DigitsData("val"))) == (1437, 360)


def test_a_test_split_needs_a_test_fraction() -> None:
    with pytest.raises(ArgumentError, match="split: test needs a test part"):
        DigitsData("test")
