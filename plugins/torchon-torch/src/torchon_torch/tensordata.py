"""Torch state as two files: its tensors in one safetensors file, everything else in one JSON document.

:class:`Packer` turns plain data holding tensors (dicts, lists, tuples, numbers, strings, ``None``: a
``state_dict()``) into JSON, each tensor replaced by a reference ``{"$tensor": NAME}``, and collects the tensors by
name. What JSON cannot say exactly is written as a one-key object: ``{"$tuple": [...]}``,
``{"$dict": [[key, value], ...]}`` for dicts whose keys are not all strings (an optimizer's ``state`` is keyed by
int), ``{"$float": "nan"}``. A plain dict never has a key starting with ``$`` (those dicts are written as
``$dict`` too), so a reference can never be confused with data.

Tensors stored once: two references to one tensor (tied weights) name one entry of the safetensors file, and come
back as one tensor. safetensors refuses tensors that share memory, so a tensor that is a different view of memory
already stored is copied, and non-contiguous tensors are made contiguous.

Loading is :func:`unpack`; :func:`read_doc` reads the files back, verified against the bundle's manifest.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from torchon.api import BundleIntegrityError

if TYPE_CHECKING:
    from torchon.api import ReadFolder, WriteFolder

__all__ = ["FORMAT", "Packer", "contains_tensor", "read_doc", "unpack", "write_doc"]

FORMAT = 1
TENSOR, TUPLE, DICT, FLOAT = "$tensor", "$tuple", "$dict", "$float"
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

# What safetensors can store (its dtype table; the unsigned and float8 types exist in newer torch only).
_STORABLE = {
    getattr(torch, name)
    for name in (
        "float64 float32 float16 bfloat16 int64 int32 int16 int8 uint8 bool complex64 "
        "uint16 uint32 uint64 float8_e4m3fn float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz"
    ).split()
    if hasattr(torch, name)
}


def contains_tensor(value: Any) -> bool:
    """Whether ``value`` is a tensor or a list, tuple or dict holding one at any depth."""
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(contains_tensor(v) for v in value)
    if isinstance(value, Mapping):
        return any(contains_tensor(v) for v in value.values())
    return False


def _path_text(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p!r}]" for p in path)


class Packer:
    """Packs values into JSON-able data, collecting their tensors in :attr:`tensors` (name -> tensor).

    :param what: how error messages name the state (``"optimizer state"``).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.tensors: dict[str, torch.Tensor] = {}
        self._by_view: dict[tuple[Any, ...], str] = {}
        self._storages: set[tuple[Any, ...]] = set()
        self._active: set[int] = set()

    def pack(self, value: Any, path: tuple[Any, ...] = ()) -> Any:
        """``value`` as JSON-able data; ``path`` (keys from the root) names its tensors and its errors."""
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {FLOAT: repr(value)}
        if isinstance(value, torch.Tensor):
            return self._reference(value, path)
        if not isinstance(value, (list, tuple, Mapping)):
            raise TypeError(
                f"cannot save {self.what}{_path_text(path)}: a {type(value).__module__}.{type(value).__qualname__} "
                "is neither a tensor nor plain data (dict, list, tuple, number, string, None); convert it, or "
                "save it with a saver of its own"
            )
        if id(value) in self._active:
            raise TypeError(f"cannot save {self.what}{_path_text(path)}: it contains itself")
        self._active.add(id(value))
        try:
            if isinstance(value, list):
                return [self.pack(v, (*path, i)) for i, v in enumerate(value)]
            if isinstance(value, tuple):
                return {TUPLE: [self.pack(v, (*path, i)) for i, v in enumerate(value)]}
            if all(isinstance(k, str) and not k.startswith("$") for k in value):
                return {k: self.pack(v, (*path, k)) for k, v in value.items()}
            return {DICT: [[self._key(k, path), self.pack(v, (*path, k))] for k, v in value.items()]}
        finally:
            self._active.discard(id(value))

    def _key(self, key: Any, path: tuple[Any, ...]) -> Any:
        if contains_tensor(key):
            raise TypeError(f"cannot save {self.what}{_path_text(path)}: a dict key holds a tensor")
        return self.pack(key, (*path, key))

    def _reference(self, tensor: torch.Tensor, path: tuple[Any, ...]) -> dict[str, Any]:
        ref: dict[str, Any] = {TENSOR: self._store(tensor, path)}
        if isinstance(tensor, torch.nn.Parameter):
            ref["parameter"] = True
        if tensor.requires_grad:
            ref["requires_grad"] = True
        return ref

    def _store(self, tensor: torch.Tensor, path: tuple[Any, ...]) -> str:
        where = f"{self.what}{_path_text(path)}"
        if tensor.layout != torch.strided:
            raise TypeError(
                f"cannot save {where}: a {tensor.layout} tensor; convert it with .to_dense() first"
            )
        if tensor.device.type == "meta":
            raise TypeError(
                f"cannot save {where}: it is on the meta device and holds no data; materialize it first"
            )
        if tensor.dtype not in _STORABLE:
            raise TypeError(f"cannot save {where}: safetensors cannot store {tensor.dtype} tensors")
        view = _view_key(tensor)
        if view is not None and view in self._by_view:
            return self._by_view[view]  # the same tensor again (tied weights): one entry, one tensor on load
        base = "/".join(str(p) for p in path) or "tensor"
        name, n = base, 1
        while name in self.tensors:
            name, n = f"{base}#{n}", n + 1
        stored = tensor.detach()
        if stored.is_conj() or stored.is_neg():
            stored = stored.resolve_conj().resolve_neg()
        stored = stored.contiguous()
        storage = _storage_key(stored)
        if storage is not None and storage in self._storages:
            stored = stored.clone()  # another view of memory already stored: safetensors wants its own
            storage = _storage_key(stored)
        if storage is not None:
            self._storages.add(storage)
        self.tensors[name] = stored
        if view is not None:
            self._by_view[view] = name
        return name


def _view_key(tensor: torch.Tensor) -> tuple[Any, ...] | None:
    """What makes two tensors the same view of the same memory (None for empty tensors, which hold none)."""
    if tensor.numel() == 0:
        return None
    storage = tensor.untyped_storage()
    return (
        tensor.device,
        storage.data_ptr(),
        tensor.storage_offset(),
        tuple(tensor.shape),
        tensor.stride(),
        tensor.dtype,
        tensor.is_conj(),
        tensor.is_neg(),
    )


def _storage_key(tensor: torch.Tensor) -> tuple[Any, ...] | None:
    storage = tensor.untyped_storage()
    if tensor.numel() == 0 or storage.data_ptr() == 0:
        return None
    return (tensor.device, storage.data_ptr())


def unpack(plain: Any, tensors: Mapping[str, torch.Tensor], source: str) -> Any:
    """The value :meth:`Packer.pack` packed. ``source`` names the JSON file in errors about malformed data."""
    made: dict[tuple[str, bool, bool], torch.Tensor] = {}

    def tensor(ref: Mapping[str, Any]) -> torch.Tensor:
        name, parameter, grad = ref[TENSOR], ref.get("parameter", False), ref.get("requires_grad", False)
        if set(ref) - {TENSOR, "parameter", "requires_grad"} or not isinstance(name, str):
            raise ValueError(f"malformed tensor reference {dict(ref)!r}")
        key = (name, bool(parameter), bool(grad))
        if key not in made:
            if name not in tensors:
                raise ValueError(f"refers to tensor {name!r}, which its safetensors file does not hold")
            value = tensors[name]
            if parameter:
                value = torch.nn.Parameter(value, requires_grad=bool(grad))
            elif grad:
                value = value.requires_grad_(True)
            made[key] = value
        return made[key]

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if not isinstance(value, dict):
            return value
        if not any(k.startswith("$") for k in value):
            return {k: walk(v) for k, v in value.items()}
        if TENSOR in value:
            return tensor(value)
        if len(value) != 1:
            raise ValueError(f"malformed marker object with keys {sorted(value)}")
        ((marker, inner),) = value.items()
        if marker == TUPLE and isinstance(inner, list):
            return tuple(walk(v) for v in inner)
        if marker == DICT and isinstance(inner, list):
            return {walk(k): walk(v) for k, v in inner}
        if marker == FLOAT and inner in _NON_FINITE:
            return _NON_FINITE[inner]
        raise ValueError(f"malformed {marker!r} object")

    try:
        return walk(plain)
    except (TypeError, ValueError, KeyError) as exc:
        raise BundleIntegrityError(f"{source}: {exc}") from None


# -- files -------------------------------------------------------------------------------------------------


_SAFETENSORS_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
    **{
        getattr(torch, a): c
        for a, c in (("float8_e4m3fn", "F8_E4M3"), ("float8_e5m2", "F8_E5M2"))
        if hasattr(torch, a)
    },
}


def write_safetensors(
    folder: WriteFolder, name: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]
) -> None:
    """Write ``tensors`` in the safetensors format, streamed from their memory through ``folder.open``.

    The format is an 8-byte header length, a JSON header (dtype, shape, byte range of each tensor) and the raw
    little-endian bytes; writing it piece by piece lets the folder digest and flush the file while it is written,
    which ``safetensors.torch.save_file`` (a path, written in one go) does not allow. Files are read back with the
    safetensors library itself. Falls back to ``save_file`` for dtypes this writer does not know.
    """
    if sys.byteorder != "little" or any(t.dtype not in _SAFETENSORS_DTYPES for t in tensors.values()):
        from safetensors.torch import save_file

        save_file(dict(tensors), folder.file(name), metadata=dict(metadata))
        return
    header: dict[str, Any] = {}
    laid_out = []
    offset = 0
    for key, tensor in tensors.items():
        data = tensor.detach().to("cpu").contiguous()
        size = data.numel() * data.element_size()
        header[key] = {
            "dtype": _SAFETENSORS_DTYPES[data.dtype],
            "shape": list(data.shape),
            "data_offsets": [offset, offset + size],
        }
        laid_out.append(data)
        offset += size
    header["__metadata__"] = dict(metadata)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # tensors start 8-byte aligned, as safetensors writes them
    with folder.open(name) as out:
        out.write(struct.pack("<Q", len(encoded)) + encoded)
        for data in laid_out:
            if data.numel():
                out.write(memoryview(data.reshape(-1).view(torch.uint8).numpy()))


def write_doc(folder: WriteFolder, stem: str, doc: dict[str, Any], packer: Packer) -> None:
    """Write ``STEM.json`` (``doc``, with the format and the name of the tensor file added) and, when
    ``packer`` collected tensors, ``STEM.safetensors``."""
    tensor_file = None
    if packer.tensors:
        tensor_file = f"{stem}.safetensors"
        write_safetensors(folder, tensor_file, packer.tensors, {"format": "pt"})
    full = {"format": FORMAT, "tensors": tensor_file, **doc}
    folder.write_text(f"{stem}.json", json.dumps(full, allow_nan=False, ensure_ascii=False))


def read_doc(
    folder: ReadFolder, stem: str, *, mapped: bool = False
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read back what :func:`write_doc` wrote: the document and the tensors by name, checked against the manifest.

    ``mapped``: the tensors may be backed by the file itself (memory-mapped, copy-on-write); use it when they are
    only copied somewhere else (into a module's parameters) and then dropped. Otherwise they own their memory.
    """
    source = f"{folder.prefix}/{stem}.json"
    try:
        doc = json.loads(folder.read_text(f"{stem}.json"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleIntegrityError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else None
        raise BundleIntegrityError(
            f"{source}: format {got!r} is not {FORMAT}, the one this torchon-torch reads; "
            "upgrade torchon-torch to load this bundle"
        )
    tensor_file = doc.get("tensors")
    if tensor_file is None:
        return doc, {}
    if tensor_file != f"{stem}.safetensors":
        raise BundleIntegrityError(
            f"{source}: names tensor file {tensor_file!r}, expected {stem}.safetensors"
        )
    from safetensors import SafetensorError
    from safetensors.torch import load, load_file

    try:
        if (
            mapped
        ):  # digested in the background while the caller copies the weights; checked before load returns
            return doc, load_file(folder.file(tensor_file, verify_later=True))
        return doc, load(folder.read_bytes(tensor_file))
    except SafetensorError as exc:
        folder.finish()  # an altered file explains a parse failure best
        raise BundleIntegrityError(
            f"{folder.prefix}/{tensor_file}: not a valid safetensors file ({exc})"
        ) from None
