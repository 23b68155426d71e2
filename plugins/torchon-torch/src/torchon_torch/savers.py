"""Savers for torch state: modules, tensors, optimizers and learning-rate schedulers.

All are ``data`` savers: tensors go to safetensors, the rest to JSON (see :mod:`torchon_torch.tensordata`), and
loading runs no code — never ``torch.save`` or pickle. The bundle's chain picks them by type (a module, an
optimizer, a scheduler anywhere in a saved tree) or by value (a tensor in a component's state), and only once
torch is imported, so this module's torch import costs nothing to a tree without torch.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import torch

from torchon.api import BundleIntegrityError, Saver
from torchon_torch.deferred_init import deferred_init, mark_loaded
from torchon_torch.tensordata import Packer, contains_tensor, read_doc, unpack, write_doc

if TYPE_CHECKING:
    from torchon.api import ReadFolder, WriteFolder

__all__ = ["ModuleSaver", "OptimizerSaver", "SchedulerSaver", "TensorSaver"]

logger = logging.getLogger("torchon.torch")


class ModuleSaver(Saver):
    """A ``torch.nn.Module``'s ``state_dict()``: its tensors in ``module.safetensors`` under their state-dict keys,
    the rest (``_extra_state``, the per-module layout versions, which submodules are in eval mode) in
    ``module.json``.

    On load the weights are copied into the module the config rebuilt (``load_state_dict(strict=True)``), so the
    module keeps its device and dtype, and weights its constructor ties stay tied. A module's file holds its
    submodules' weights too, so a submodule that is an object of the tree on its own is not saved again; and the
    modules are rebuilt without initialising the weights about to be loaded (:mod:`torchon_torch.deferred_init`).
    """

    name = "torch-module"
    safety = "data"
    protocol = 1

    def can_save(self, obj: Any, state: dict[str, Any]) -> bool:
        return isinstance(obj, torch.nn.Module)

    def covers(self, obj: Any, other: Any) -> bool:
        return (
            isinstance(obj, torch.nn.Module)
            and isinstance(other, torch.nn.Module)
            and any(module is other for module in obj.modules())
        )

    @classmethod
    def build_context(cls) -> AbstractContextManager[Any]:
        return deferred_init()

    def save(self, obj: Any, state: dict[str, Any], folder: WriteFolder) -> dict[str, Any]:
        state_dict = obj.state_dict()
        packer = Packer(f"the state_dict of {type(obj).__qualname__}")
        doc = {
            "state_dict": packer.pack(state_dict),
            "metadata": packer.pack(dict(getattr(state_dict, "_metadata", {})), ("_metadata",)),
            "eval": [name for name, module in obj.named_modules() if not module.training],
        }
        write_doc(folder, "module", doc, packer)
        return state

    def load(self, obj: Any, state: dict[str, Any], folder: ReadFolder) -> dict[str, Any]:
        doc, tensors = read_doc(folder, "module", mapped=True)  # copied into the parameters, then dropped
        source = f"{folder.prefix}/module.json"
        state_dict = unpack(doc.get("state_dict"), tensors, source)
        metadata = unpack(doc.get("metadata", {}), tensors, source)
        evaluating = doc.get("eval", [])
        if not (
            isinstance(state_dict, dict)
            and isinstance(metadata, dict)
            and isinstance(evaluating, list)
            and all(isinstance(name, str) for name in evaluating)
        ):
            raise BundleIntegrityError(f"{source}: malformed module state")
        in_eval = set(evaluating)
        state_dict = OrderedDict(state_dict)
        state_dict._metadata = OrderedDict(metadata)  # type: ignore[attr-defined]  # layout versions per submodule
        _warn_on_dtype_change(obj, state_dict, folder.prefix)
        obj.load_state_dict(state_dict, strict=True)
        mark_loaded(obj)
        for name, module in obj.named_modules():
            module.training = name not in in_eval
        return state


def _warn_on_dtype_change(module: torch.nn.Module, loaded: dict[str, Any], where: str) -> None:
    current = module.state_dict()
    changed = [
        f"{key} ({value.dtype} -> {current[key].dtype})"
        for key, value in loaded.items()
        if isinstance(value, torch.Tensor) and key in current and value.dtype != current[key].dtype
    ]
    if changed:
        logger.warning(
            "%s: the weights were saved in other dtypes than the rebuilt module has; they are converted to the "
            "module's: %s%s",
            where,
            ", ".join(changed[:5]),
            f" and {len(changed) - 5} more" if len(changed) > 5 else "",
        )


class TensorSaver(Saver):
    """Tensors in a component's state: every entry of the state holding a tensor (itself, or in lists, tuples
    and dicts) goes to ``tensors.safetensors`` + ``tensors.json`` and comes back on load with its dtype and shape,
    on the CPU. A tensor found twice comes back as one tensor."""

    name = "torch-tensor"
    safety = "data"
    protocol = 1

    def can_save(self, obj: Any, state: dict[str, Any]) -> bool:
        return any(contains_tensor(value) for value in state.values())

    def save(self, obj: Any, state: dict[str, Any], folder: WriteFolder) -> dict[str, Any]:
        taken = {key: value for key, value in state.items() if contains_tensor(value)}
        packer = Packer(f"the state of {type(obj).__qualname__}")
        write_doc(folder, "tensors", {"state": packer.pack(taken)}, packer)
        return {key: value for key, value in state.items() if key not in taken}

    def load(self, obj: Any, state: dict[str, Any], folder: ReadFolder) -> dict[str, Any]:
        doc, tensors = read_doc(folder, "tensors")
        source = f"{folder.prefix}/tensors.json"
        restored = unpack(doc.get("state"), tensors, source)
        if not isinstance(restored, dict):
            raise BundleIntegrityError(f"{source}: 'state' is not a mapping")
        return {**state, **restored}


class _StateDictSaver:
    """Saves an object with ``state_dict()`` / ``load_state_dict()`` whose state is plain data and tensors
    (a mixin: the savers below name it)."""

    stem: str
    what: str

    def save(self, obj: Any, state: dict[str, Any], folder: WriteFolder) -> dict[str, Any]:
        packer = Packer(f"the {self.what} state of {type(obj).__qualname__}")
        write_doc(folder, self.stem, {"state_dict": packer.pack(obj.state_dict())}, packer)
        return state

    def load(self, obj: Any, state: dict[str, Any], folder: ReadFolder) -> dict[str, Any]:
        doc, tensors = read_doc(folder, self.stem)  # the tensors become live state: they own their memory
        obj.load_state_dict(unpack(doc.get("state_dict"), tensors, f"{folder.prefix}/{self.stem}.json"))
        return state


class OptimizerSaver(_StateDictSaver, Saver):
    """A ``torch.optim.Optimizer``'s ``state_dict()``: its tensors (moments, momentum buffers, step counts) in
    ``optimizer.safetensors`` bit for bit, the param groups and the rest in ``optimizer.json``. Loading calls
    ``load_state_dict`` on the optimizer rebuilt over the same parameters (it moves the state to their device),
    so training resumes exactly where it stopped."""

    name = "torch-optimizer"
    safety = "data"
    protocol = 1
    stem = "optimizer"
    what = "optimizer"

    def can_save(self, obj: Any, state: dict[str, Any]) -> bool:
        return isinstance(obj, torch.optim.Optimizer)


class SchedulerSaver(_StateDictSaver, Saver):
    """A learning-rate scheduler's ``state_dict()`` in ``scheduler.json`` (tensors, should it hold any, in
    ``scheduler.safetensors``); loading calls ``load_state_dict``. Lambdas a ``LambdaLR`` was given are code:
    they are not saved (torch leaves them out of ``state_dict()`` too) and come from the rebuilt scheduler."""

    name = "torch-lr-scheduler"
    safety = "data"
    protocol = 1
    stem = "scheduler"
    what = "learning-rate scheduler"
