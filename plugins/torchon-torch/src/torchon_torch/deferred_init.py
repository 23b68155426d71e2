"""Building modules without initialising weights that a bundle is about to overwrite.

Initialising a large model's weights (random numbers for every parameter) can cost more than loading them. Inside
:func:`deferred_init`, the in-place functions of ``torch.nn.init`` (which modules' ``reset_parameters`` call) record
the call instead of running it. :func:`mark_loaded` names the tensors a saver filled from the bundle; when the
block ends, every recorded call whose tensor was not filled runs after all, in the order it was made, so a module
the bundle did not restore (a private attribute, a non-persistent buffer) is initialised as usual.

The ``torch.nn.init`` functions are patched for the whole process while a block is open: another thread building
modules at that time has its initialisation deferred to the end of the block too.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.init as init

__all__ = ["INIT_FUNCTIONS", "deferred_init", "mark_loaded"]

INIT_FUNCTIONS = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
)


class _Record:
    def __init__(self) -> None:
        self.calls: list[tuple[Callable[..., Any], torch.Tensor, tuple[Any, ...], dict[str, Any]]] = []
        self.loaded: set[int] = set()

    def replay(self) -> None:
        with torch.no_grad():
            for function, tensor, args, kwargs in self.calls:
                if _memory(tensor) not in self.loaded:
                    function(tensor, *args, **kwargs)
        self.calls.clear()


_lock = threading.Lock()
_open: list[_Record] = []
_originals: dict[str, Callable[..., Any]] = {}


def _memory(tensor: torch.Tensor) -> int:
    """Which memory a tensor lives in (0, never marked loaded, for tensors holding none)."""
    return tensor.untyped_storage().data_ptr() if tensor.numel() else 0


def _deferring(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def deferred(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            record = _open[-1] if _open else None
        if record is None or not isinstance(tensor, torch.Tensor) or tensor.device.type == "meta":
            return function(tensor, *args, **kwargs)
        record.calls.append((function, tensor, args, kwargs))
        return tensor

    return deferred


@contextmanager
def deferred_init() -> Iterator[None]:
    """Defer ``torch.nn.init`` calls made in the block; at its end, run those whose tensor was not loaded."""
    record = _Record()
    with _lock:
        if not _open:
            for name in INIT_FUNCTIONS:
                original = getattr(init, name, None)
                if original is not None:
                    _originals[name] = original
                    setattr(init, name, _deferring(original))
        _open.append(record)
    try:
        yield
    finally:
        with _lock:
            _open.remove(record)
            if not _open:
                for name, original in _originals.items():
                    setattr(init, name, original)
                _originals.clear()
        record.replay()


def mark_loaded(module: torch.nn.Module) -> None:
    """Say that every parameter and persistent buffer of ``module`` now holds loaded values."""
    with _lock:
        if not _open:
            return
        memory = {
            _memory(t) for t in module.state_dict(keep_vars=True).values() if isinstance(t, torch.Tensor)
        }
        memory.discard(0)
        for record in _open:
            record.loaded |= memory
