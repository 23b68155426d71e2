"""Batches in a reproducible order that can start anywhere: what makes a resumed run see the very same data.

The order of epoch ``e`` is a permutation drawn from a generator seeded with ``(seed, e)`` alone, never from
torch's global generator, so it does not depend on what else the run drew, and a run resumed at ``(epoch,
batch)`` continues with exactly the batches an uninterrupted run would have seen. Three kinds of sources:

- in-memory tensors (a ``TensorDataset``, or any dataset with a ``tensors`` tuple): batches are sliced out
  directly, with no per-sample indexing or collation (as a hand-written loop would do);
- a map-style dataset (``__len__`` and ``__getitem__``), or a ``DataLoader`` over one with a plain random or
  sequential sampler: a ``DataLoader`` over our batch order, keeping the given loader's collation, workers and
  pinning;
- any other ``DataLoader`` (a custom sampler): used as it is. To resume inside an epoch, torch's generator is
  put back to where it was when the epoch began, the epoch is restarted and the batches already seen are skipped.

With ``world`` processes, every process computes the same global batch and takes its share (``rank::world``), so
``batch_size`` is the global batch size and N processes average to the gradient one process would compute.

Batches come as ``(inputs, target)`` pairs on the device given to :meth:`Batches.to`, ready for ``model(*inputs)``:
in-memory tensors are sliced straight into that shape, with no Python frame per batch besides the iterator's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter
from typing import Any

import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

__all__ = ["Batches", "split_batch"]

Pair = tuple[tuple[Any, ...], Any]  # (inputs, target)

_SEED_STRIDE = 1_000_003


def split_batch(batch: Any, device: torch.device | None) -> Pair:
    """``(inputs, target)`` of a batch ``(input, ..., target)``, moved to ``device`` unless it is None."""
    if not isinstance(batch, (list, tuple)) or len(batch) < 2:
        raise TypeError(
            f"a batch must be a tuple (inputs..., target), got {type(batch).__name__}; make the data set's "
            "items (input, target) pairs"
        )
    if device is not None:
        batch = [t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t for t in batch]
    return tuple(batch[:-1]), batch[-1]


class Batches:
    """The batches of ``source`` (a dataset or a ``DataLoader``) for process ``rank`` of ``world``."""

    def __init__(
        self,
        source: Any,
        *,
        batch_size: int | None,
        shuffle: bool,
        seed: int,
        rank: int = 0,
        world: int = 1,
        num_workers: int = 0,
        drop_last: bool = False,
        what: str = "data",
    ) -> None:
        self.seed, self.rank, self.world, self.what = seed, rank, world, what
        self.shuffle, self.drop_last = shuffle, drop_last
        self.num_workers = num_workers
        self.collate_fn: Any = None
        self.pin_memory = False
        self.loader: DataLoader[Any] | None = None
        self.epoch_rng: torch.Tensor | None = None  # torch's generator when the current epoch began (loaders)
        self.device: torch.device | None = None  # where batches are moved one by one (None: they are there)
        dataset = source
        if isinstance(source, DataLoader):
            dataset = source.dataset
            plain = isinstance(source.batch_sampler, BatchSampler) and type(source.sampler) in (
                RandomSampler,
                SequentialSampler,
            )
            if plain and source.batch_size is not None:
                batch_size = source.batch_size
                self.shuffle = isinstance(source.sampler, RandomSampler)
                self.drop_last = source.drop_last
                self.collate_fn = source.collate_fn
                self.num_workers = source.num_workers
                self.pin_memory = source.pin_memory
            else:
                if world > 1:
                    raise ValueError(
                        f"{what}: a DataLoader with its own sampler cannot be split across processes; give the "
                        "dataset (and batch_size), or a DataLoader with shuffle true/false"
                    )
                self.loader = source
        self.dataset = dataset
        tensors = getattr(dataset, "tensors", None)
        self.tensors: tuple[torch.Tensor, ...] | None = (
            tuple(tensors)
            if self.loader is None
            and isinstance(tensors, (tuple, list))
            and len(tensors) >= 2  # (inputs..., target); anything else is refused as any dataset's items are
            and all(isinstance(t, torch.Tensor) for t in tensors)
            else None
        )
        if self.loader is not None:
            try:
                self.batches_per_epoch = len(self.loader)
            except TypeError:
                raise ValueError(f"{what}: the DataLoader has no length; give a map-style dataset") from None
            self.size = self.batches_per_epoch
            self.batch_size = source.batch_size or 1
            return
        try:
            self.size = len(dataset)
        except TypeError:
            raise ValueError(
                f"{what}: {type(dataset).__name__} has no length; give a map-style dataset (with __len__ and "
                "__getitem__) or a DataLoader"
            ) from None
        if self.size == 0:
            raise ValueError(f"{what}: the data set is empty")
        self.batch_size = batch_size or 32
        full, rest = divmod(self.size, self.batch_size)
        # with several processes a last batch smaller than the number of processes would leave one with nothing
        self.batches_per_epoch = full + (1 if rest and not self.drop_last and rest >= world else 0)
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"{what}: {self.size} samples make no batch of {self.batch_size} (drop_last is set); lower "
                "batch_size"
            )

    def to(self, device: torch.device) -> None:
        """Serve batches on ``device``: in-memory tensors are moved there once (when they fit comfortably), other
        batches one by one."""
        self.device = None if self._moved(device) else device

    def _moved(self, device: torch.device) -> bool:
        if device.type == "cpu":
            return self.tensors is None or all(t.device.type == "cpu" for t in self.tensors)
        if self.tensors is not None:
            size = sum(t.numel() * t.element_size() for t in self.tensors)
            if size < 2**31:
                self.tensors = tuple(t.to(device) for t in self.tensors)
                return True
        return False

    def order(self, epoch: int) -> torch.Tensor:
        """The sample indices of ``epoch``, in the order they are served."""
        if not self.shuffle:
            return torch.arange(self.size)
        generator = torch.Generator().manual_seed((self.seed * _SEED_STRIDE + epoch) % 2**63)
        return torch.randperm(self.size, generator=generator)

    def _shares(self, order: torch.Tensor, start: int) -> list[torch.Tensor]:
        """The sample indices of each batch from ``start`` on: this process's share of each."""
        size, rank, world = self.batch_size, self.rank, self.world
        shares = [order[b * size : (b + 1) * size] for b in range(start, self.batches_per_epoch)]
        return [idx[rank::world] for idx in shares] if world > 1 else shares

    def iterate(self, epoch: int, start: int = 0) -> Iterator[Pair]:
        """The ``(inputs, target)`` pairs of ``epoch`` from batch ``start`` on (this process's share of each)."""
        if self.tensors is not None and self.device is None:
            return self._iterate_tensors(epoch, start)
        if self.loader is not None:
            batches = self._iterate_loader(start)
        elif self.tensors is not None:
            batches = (tuple(map(itemgetter(idx), self.tensors)) for idx in self._indices(epoch, start))
        else:
            batches = self._iterate_dataset(epoch, start)
        device = self.device
        return (split_batch(batch, device) for batch in batches)

    def _indices(self, epoch: int, start: int) -> list[Any]:
        """What selects each batch from the tensors: index tensors, or slices when in order (views, no copy)."""
        if self.shuffle:
            assert self.tensors is not None
            order = self.order(epoch)
            if self.tensors[0].device.type != "cpu":
                order = order.to(self.tensors[0].device)
            return self._shares(order, start)
        size, rank, world = self.batch_size, self.rank, self.world  # [b * size : (b + 1) * size][rank::world]
        return [slice(b * size + rank, (b + 1) * size, world) for b in range(start, self.batches_per_epoch)]

    def _iterate_tensors(self, epoch: int, start: int) -> Iterator[Pair]:
        assert self.tensors is not None
        *inputs, target = self.tensors
        for idx in self._indices(epoch, start):
            select = itemgetter(idx)  # t[idx], in C: no frame per tensor
            yield tuple(map(select, inputs)), select(target)

    def _iterate_dataset(self, epoch: int, start: int) -> Iterator[Any]:
        shares = [idx.tolist() for idx in self._shares(self.order(epoch), start)]
        kwargs: dict[str, Any] = {}
        if self.collate_fn is not None:
            kwargs["collate_fn"] = self.collate_fn
        loader = DataLoader(
            self.dataset,
            batch_sampler=shares,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            # the workers' seeds come from this generator, not torch's global one
            generator=torch.Generator().manual_seed((self.seed * _SEED_STRIDE + epoch) % 2**63),
            **kwargs,
        )
        return iter(loader)

    def _iterate_loader(self, start: int) -> Iterator[Any]:
        assert self.loader is not None
        if start == 0:
            self.epoch_rng = torch.get_rng_state()
            return iter(self.loader)
        now = torch.get_rng_state()
        if self.epoch_rng is not None:
            torch.set_rng_state(self.epoch_rng)
        iterator = iter(self.loader)
        for _ in range(start):
            next(iterator)
        torch.set_rng_state(now)
        return iterator

    def __len__(self) -> int:
        return self.batches_per_epoch

    def samples(self) -> int:
        return self.size if self.loader is None else self.batches_per_epoch * self.batch_size
