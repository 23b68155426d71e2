"""Plain data holding tensors, packed to JSON + safetensors and back: exact values, types, sharing, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from torchon.bundle.files import BundleIntegrityError, ReadFolder, WriteFolder
from torchon_torch.tensordata import Packer, contains_tensor, read_doc, unpack, write_doc


def roundtrip(value, tmp_path: Path, *, mapped: bool = False):
    records: dict = {}
    out = WriteFolder(tmp_path, "root/x", records)
    packer = Packer("the test state")
    write_doc(out, "data", {"value": packer.pack(value)}, packer)
    out.finish()
    doc, tensors = read_doc(ReadFolder(tmp_path, "root/x", records, where="test"), "data", mapped=mapped)
    return unpack(doc["value"], tensors, "root/x/data.json")


def same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)


def test_plain_data_keeps_its_types(tmp_path: Path) -> None:
    value = {
        "int": 3,
        "big": 2**80,
        "float": 0.1 + 0.2,
        "tiny": 5e-324,
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "bool": True,
        "none": None,
        "text": "héllo",
        "tuple": (1, (2.5, "x")),
        "list": [1, [2, 3]],
        "int keys": {0: "a", 1: {"b": 2}},
        "mixed keys": {"a": 1, 2: "b", (3, 4): None},
        "$dollar": {"$tensor": "not a reference"},
        "empty": {},
    }
    back = roundtrip(value, tmp_path)
    assert math.isnan(back.pop("nan")) and math.isnan(value.pop("nan"))
    assert back == value
    assert type(back["tuple"]) is tuple and type(back["tuple"][1]) is tuple
    assert type(back["mixed keys"]) is dict and (3, 4) in back["mixed keys"]
    assert not (tmp_path / "data.safetensors").exists()  # no tensors, no tensor file
    # standard JSON: no NaN or Infinity literals
    json.loads((tmp_path / "data.json").read_text(), parse_constant=pytest.fail)


DTYPES = [
    torch.float64,
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.int16,
    torch.int8,
    torch.uint8,
    torch.bool,
    torch.complex64,
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_tensors_come_back_bit_identical(tmp_path: Path, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    if dtype.is_floating_point or dtype.is_complex:
        tensor = torch.randn(3, 5, generator=gen, dtype=dtype) * 1e3
    elif dtype is torch.bool:
        tensor = torch.rand(3, 5, generator=gen) > 0.5
    else:
        tensor = torch.randint(-100 if dtype.is_signed else 0, 100, (3, 5), generator=gen, dtype=dtype)
    value = {"t": tensor, "scalar": tensor[0, 0].clone(), "empty": tensor[:0]}
    back = roundtrip(value, tmp_path)
    for key in value:
        assert same_tensor(back[key], value[key]), key
        assert back[key].device.type == "cpu"


def test_nested_tensors_and_identity(tmp_path: Path) -> None:
    a = torch.arange(6.0).reshape(2, 3)
    value = {"a": a, "again": a, "nested": [{"x": a, "y": (a.t(), torch.ones(2))}], 7: a[1]}
    packer = Packer("s")
    packer.pack(value)
    assert len(packer.tensors) == 4  # a once; its transpose, its row (a different view) and ones apart
    back = roundtrip(value, tmp_path)
    assert back["a"] is back["again"] is back["nested"][0]["x"]  # one tensor, as saved
    assert same_tensor(back["nested"][0]["y"][0], a.t())
    assert same_tensor(back[7], a[1])
    back["a"][0, 0] = 100.0
    assert a[0, 0] == 0.0  # loaded tensors own their memory


def test_views_of_shared_memory_are_stored_apart(tmp_path: Path) -> None:
    base = torch.arange(12.0)
    value = {"first": base[:6], "second": base[6:], "strided": base[::3], "whole": base}
    packer = Packer("s")
    packer.pack(value)
    pointers = {t.untyped_storage().data_ptr() for t in packer.tensors.values()}
    assert len(pointers) == len(packer.tensors) == 4  # safetensors refuses shared memory
    assert all(t.is_contiguous() for t in packer.tensors.values())
    back = roundtrip(value, tmp_path)
    for key, tensor in value.items():
        assert same_tensor(back[key], tensor)


def test_conjugate_and_negative_views_are_resolved(tmp_path: Path) -> None:
    z = torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex64)
    back = roundtrip({"conj": z.conj(), "neg": z.conj().imag}, tmp_path)
    assert torch.equal(back["conj"], torch.tensor([1 - 2j, 3 + 4j], dtype=torch.complex64))
    assert torch.equal(back["neg"], torch.tensor([-2.0, 4.0]))


def test_parameters_and_requires_grad_come_back(tmp_path: Path) -> None:
    param = torch.nn.Parameter(torch.randn(3))
    frozen = torch.nn.Parameter(torch.randn(3), requires_grad=False)
    leaf = torch.randn(2, requires_grad=True)
    back = roundtrip({"param": param, "frozen": frozen, "leaf": leaf, "plain": torch.ones(1)}, tmp_path)
    assert isinstance(back["param"], torch.nn.Parameter) and back["param"].requires_grad
    assert isinstance(back["frozen"], torch.nn.Parameter) and not back["frozen"].requires_grad
    assert not isinstance(back["leaf"], torch.nn.Parameter) and back["leaf"].requires_grad
    assert not back["plain"].requires_grad
    assert torch.equal(back["param"], param)


def test_mapped_read_gives_the_same_values(tmp_path: Path) -> None:
    value = {"w": torch.randn(64, 64), "b": torch.randn(64).half()}
    back = roundtrip(value, tmp_path, mapped=True)
    assert all(same_tensor(back[k], value[k]) for k in value)


def test_tensor_file_is_a_standard_safetensors_file(tmp_path: Path) -> None:
    state = torch.nn.Linear(3, 2).state_dict()
    records: dict = {}
    out = WriteFolder(tmp_path, "p", records)
    packer = Packer("s")
    write_doc(out, "m", {"value": packer.pack(state)}, packer)
    out.finish()
    plain = load_file(tmp_path / "m.safetensors")  # other tools read it as a state dict
    assert plain.keys() == state.keys()
    assert all(torch.equal(plain[k], state[k]) for k in state)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: {"f": object()},
            r"the test state\['f'\]: a builtins.object is neither a tensor nor plain data",
        ),
        (lambda: {"s": {1, 2}}, r"\['s'\]: a builtins.set"),
        (
            lambda: {"sparse": torch.eye(2).to_sparse()},
            r"\['sparse'\]: a torch.sparse_coo tensor; convert it",
        ),
        (lambda: {"meta": torch.empty(2, device="meta")}, r"\['meta'\]: it is on the meta device"),
        (lambda: {"q": torch.ones(2).to(torch.float8_e4m3fn).view(torch.bits8)}, "cannot store torch.bits8"),
        (lambda: {torch.ones(1): 1}, "a dict key holds a tensor"),
    ],
)
def test_what_cannot_be_saved_is_named(make, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Packer("the test state").pack(make())


def test_a_cycle_is_refused() -> None:
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(TypeError, match=r"the test state\[1\]: it contains itself"):
        Packer("the test state").pack(loop)


def test_contains_tensor() -> None:
    assert contains_tensor(torch.ones(1))
    assert contains_tensor({"a": [1, (2, torch.ones(1))]})
    assert not contains_tensor({"a": [1, (2, "x")]})


@pytest.mark.parametrize(
    ("plain", "message"),
    [
        ({"$tensor": "missing"}, "refers to tensor 'missing'"),
        ({"$tensor": 3}, "malformed tensor reference"),
        ({"$tensor": "t", "extra": 1}, "malformed tensor reference"),
        ({"$tuple": "no list"}, "malformed '\\$tuple' object"),
        ({"$dict": [[[1], 2]]}, "unhashable"),
        ({"$float": "1e400"}, "malformed '\\$float' object"),
        ({"$exec": "os.system('x')"}, "malformed '\\$exec' object"),
        ({"$tuple": [], "$dict": []}, "malformed marker object"),
    ],
)
def test_malformed_documents_are_refused_naming_the_file(plain, message: str) -> None:
    with pytest.raises(BundleIntegrityError, match="^root/x/data.json: .*" + message):
        unpack(plain, {"t": torch.ones(1)}, "root/x/data.json")


def test_documents_of_another_format_are_refused(tmp_path: Path) -> None:
    records: dict = {}
    out = WriteFolder(tmp_path, "root/x", records)
    out.write_text("data.json", json.dumps({"format": 99, "tensors": None}))
    with pytest.raises(BundleIntegrityError, match=r"root/x/data.json: format 99 .* upgrade torchon-torch"):
        read_doc(ReadFolder(tmp_path, "root/x", records, where="test"), "data")


def test_a_lying_tensor_file_name_is_refused(tmp_path: Path) -> None:
    records: dict = {}
    out = WriteFolder(tmp_path, "root/x", records)
    out.write_text("data.json", json.dumps({"format": 1, "tensors": "../../etc/passwd"}))
    with pytest.raises(BundleIntegrityError, match="names tensor file"):
        read_doc(ReadFolder(tmp_path, "root/x", records, where="test"), "data")


def test_a_file_that_is_not_safetensors_is_refused(tmp_path: Path) -> None:
    records: dict = {}
    out = WriteFolder(tmp_path, "root/x", records)
    out.write_text("data.json", json.dumps({"format": 1, "tensors": "data.safetensors", "value": None}))
    # a hostile bundle: the digests match, the content is a pickle
    out.write_bytes("data.safetensors", b"\x80\x04\x95pickle, not safetensors")
    with pytest.raises(BundleIntegrityError, match=r"root/x/data\.safetensors: not a valid safetensors file"):
        read_doc(ReadFolder(tmp_path, "root/x", records, where="test"), "data")


def test_streamed_safetensors_files_read_back_bit_for_bit_with_the_safetensors_library(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from safetensors import safe_open
    from safetensors.torch import load_file

    from torchon.bundle.files import WriteFolder, digest_file
    from torchon_torch.tensordata import write_safetensors

    generator = torch.Generator().manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 5, generator=generator),
        "bf16": torch.randn(7, generator=generator).to(torch.bfloat16),
        "f16": torch.randn(2, 2, generator=generator).half(),
        "i64": torch.arange(9).reshape(3, 3),
        "u8": torch.arange(5, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
        "strided": torch.randn(4, 6, generator=generator).t(),  # not contiguous
    }
    records: dict = {}
    write_safetensors(WriteFolder(tmp_path, "n0", records), "t.safetensors", tensors, {"format": "pt"})
    assert records["n0/t.safetensors"]["blake3"] == digest_file(tmp_path / "t.safetensors")
    loaded = load_file(tmp_path / "t.safetensors")
    assert set(loaded) == set(tensors)
    for key, tensor in tensors.items():
        assert loaded[key].dtype == tensor.dtype and loaded[key].shape == tensor.shape
        assert torch.equal(loaded[key], tensor), key
    with safe_open(tmp_path / "t.safetensors", framework="pt") as f:
        assert f.metadata() == {"format": "pt"}
