"""The Trainer's checkpoints: everything a resumed run needs to continue bit for bit, saved as a bundle.

A checkpoint is a bundle (``torchon.save``) of a :class:`TrainingState`: the model's and the optimizer's state
dicts, the scheduler's and the gradient scaler's, the random generators of torch (CPU and CUDA), numpy and Python,
the position in the data, the counters and the best metric so far. Tensors go to safetensors, the rest to JSON;
nothing is pickled. Bundles are written beside their destination and swapped into place, so a run killed while
saving leaves the previous checkpoint whole.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

import torchon

__all__ = ["TrainingState", "capture_rng", "restore_rng", "seed_everything"]


class TrainingState(torchon.Component):
    """A checkpoint's content; its public attributes are the state (see :meth:`torchon.Component.get_state`)."""

    VERSION = 1

    def __init__(self) -> None:
        self.model: dict[str, Any] = {}
        self.optimizer: dict[str, Any] = {}
        self.scheduler: dict[str, Any] | None = None
        self.scaler: dict[str, Any] | None = None
        self.rng: list[dict[str, Any]] = []  # one per process
        self.progress: dict[str, Any] = {}

    @classmethod
    def read(cls, uri: str | Path) -> TrainingState:
        state = torchon.load(uri)
        if not isinstance(state, cls):
            raise ValueError(f"{uri} holds a {type(state).__qualname__}, not a Trainer checkpoint")
        return state


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng() -> dict[str, Any]:
    """The states of the global generators, as tensors and plain data (no pickle needed to save them)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # type: ignore[misc]
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {
            "version": version,
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss": gauss_next,
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put the global generators back to what :func:`capture_rng` recorded."""
    torch.set_rng_state(state["torch"].to(torch.uint8))
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["gauss"],
        )
    )
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()), python["gauss"]))
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available():
        for index, value in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(value.to(torch.uint8), index)
