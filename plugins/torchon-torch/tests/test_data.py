"""The Trainer's batches: every kind of source serves the same ``(inputs, target)`` pairs in the same seeded order,
starts anywhere in an epoch, and splits each global batch between processes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, SubsetRandomSampler, TensorDataset

from torchon_torch.data import Batches

X = torch.arange(50 * 3, dtype=torch.float32).reshape(50, 3)
Y = torch.arange(50)


class MapStyle(Dataset):  # type: ignore[type-arg]
    """The same samples without a ``tensors`` attribute: served through a DataLoader over our order."""

    def __len__(self) -> int:
        return len(Y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return X[index], Y[index]


SOURCES = {
    "tensors": lambda: TensorDataset(X, Y),
    "map-style": MapStyle,
    "plain DataLoader": lambda: DataLoader(MapStyle(), batch_size=8, shuffle=True),
}


def pairs(batches: Batches, epoch: int, start: int = 0) -> list[tuple[list[int], list[int]]]:
    """Each pair as plain numbers: the first input's first column (which sample) and the target."""
    out = []
    for inputs, target in batches.iterate(epoch, start):
        assert isinstance(inputs, tuple) and len(inputs) == 1
        out.append(((inputs[0][:, 0] / 3).long().tolist(), target.tolist()))
    return out


def make(source: Any, **kwargs: Any) -> Batches:
    batches = Batches(source, **{"batch_size": 8, "shuffle": True, "seed": 7, **kwargs})
    batches.to(torch.device("cpu"))
    return batches


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_kind_of_source_serves_the_same_pairs_in_the_same_order(shuffle: bool) -> None:
    served = {name: pairs(make(source(), shuffle=shuffle), epoch=3) for name, source in SOURCES.items()}
    reference = served.pop("tensors")
    assert len(reference) == 7  # 50 samples: 6 batches of 8 and one of 2
    for sample, target in reference:
        assert sample == target  # inputs and target of the same samples, still together
    assert sorted(i for sample, _ in reference for i in sample) == list(range(50))
    if shuffle:
        assert [s for s, _ in reference] != [s for s, _ in pairs(make(TensorDataset(X, Y)), epoch=4)]
    else:
        assert reference[0][0] == list(range(8))
    for name, other in served.items():
        if name == "plain DataLoader" and not shuffle:
            continue  # its own shuffle=True wins
        assert other == reference, name


@pytest.mark.parametrize("kind", [*SOURCES, "custom sampler"])
def test_an_epoch_started_at_a_batch_serves_the_rest_of_it(kind: str) -> None:
    def source() -> Any:
        if kind == "custom sampler":  # used as it is: torch's generator put back to the epoch's start
            return DataLoader(MapStyle(), batch_size=8, sampler=SubsetRandomSampler(range(50)))
        return SOURCES[kind]()

    whole = make(source())
    torch.manual_seed(11)
    full = pairs(whole, epoch=2)
    for start in (1, 4, 6):
        resumed = make(source())
        resumed.epoch_rng = whole.epoch_rng
        torch.manual_seed(123)  # whatever the generator says now, the epoch's order is the same
        assert pairs(resumed, epoch=2, start=start) == full[start:], start


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("kind", ["tensors", "map-style"])
def test_two_processes_split_every_global_batch_between_them(kind: str, shuffle: bool) -> None:
    one = pairs(make(SOURCES[kind](), shuffle=shuffle), epoch=1)
    shares = [pairs(make(SOURCES[kind](), shuffle=shuffle, rank=r, world=2), epoch=1) for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == len(one)
    for (whole, _), (a, _), (b, _) in zip(one, *shares):
        assert a == whole[0::2] and b == whole[1::2]


def test_batches_that_are_not_input_target_pairs_are_refused_with_a_fix() -> None:
    batches = make(TensorDataset(X))
    with pytest.raises(TypeError, match=r"items \(input, target\) pairs"):
        next(batches.iterate(0))
