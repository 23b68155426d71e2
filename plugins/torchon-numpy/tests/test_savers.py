"""The npy and joblib savers through real saves and loads: round trips, corrupted and hostile files, trust, and
bundles saved before these savers left the kernel (torchon 0.1.0's own ``npy`` and ``joblib``)."""

from __future__ import annotations

import io
import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import torchon
from torchon.api import BundleError, BundleIntegrityError, SaveError
from torchon.bundle import BundleSafetyError
from torchon.bundle.files import digest_bytes

DATA = Path(__file__).resolve().parent / "data"
MARKER_CODE = "__import__('pathlib').Path({marker!r}).write_text('pwned')"


def trained_pair(corpus: Any) -> Any:
    pair = corpus.Pair(corpus.Table(rows=2, cols=3), name="p")
    pair.first.table += np.arange(6.0, dtype=np.float32).reshape(2, 3)  # trained in place: state
    pair.first.steps = 4
    return pair


def _files(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "manifest.json").read_text())["files"]


def _forge(bundle: Path, name: str, data: bytes) -> None:
    """Rewrite a file and its digest, as an attacker would."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / name).write_bytes(data)
    manifest["files"][name] = {"size": len(data), "blake3": digest_bytes(data)}
    (bundle / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def bundle(corpus: Any, tmp_path: Path) -> Path:
    path = tmp_path / "b"
    torchon.save(trained_pair(corpus), path)
    return path


# -- npy ----------------------------------------------------------------------------------------------------------


def test_arrays_round_trip_with_their_dtype_and_shape(corpus: Any, tmp_path: Path) -> None:
    pair = trained_pair(corpus)
    torchon.save(pair, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    table = next(node for node in manifest["nodes"] if node["path"] == "first")
    assert [(s["name"], s["safety"], s["protocol"]) for s in table["savers"]] == [
        ("json", "data", 1),
        ("npy", "data", 1),
    ]
    assert table["savers"][1]["distribution"] == "torchon-numpy"
    assert manifest["requirements"]["torchon-numpy"] == "0.1.0"
    assert sorted(n for n in manifest["files"] if "/npy/" in n) == [
        "state/n1/npy/0.npy",
        "state/n1/npy/index.json",
    ]
    loaded = torchon.load(tmp_path / "b")
    assert type(loaded) is corpus.Pair and loaded.name == "p" and loaded.first.steps == 4
    np.testing.assert_array_equal(loaded.first.table, pair.first.table)
    assert loaded.first.table.dtype == np.float32 and loaded.first.table.shape == (2, 3)


def test_load_the_part_holding_the_arrays(bundle: Path, corpus: Any) -> None:
    table = torchon.load(bundle, path="first")
    assert type(table) is corpus.Table and table.table.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_an_untouched_array_is_rebuilt_not_saved(corpus: Any, tmp_path: Path) -> None:
    torchon.save(corpus.Table(rows=3, cols=1), tmp_path / "b")
    assert list(_files(tmp_path / "b")) == ["config.yaml"]
    assert torchon.load(tmp_path / "b").table.tolist() == [[0.0], [0.0], [0.0]]


def test_an_array_of_python_objects_is_refused_naming_it(corpus: Any, tmp_path: Path) -> None:
    table = corpus.Table()
    table.table = np.array([Fraction(1, 2), None], dtype=object)
    with pytest.raises(
        SaveError, match=r"array 'table' holds Python objects; \.npy without pickle cannot store it"
    ):
        torchon.save(table, tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["npy/0.npy", "npy/index.json"])
def test_a_flipped_byte_in_an_npy_file_is_refused_naming_it(bundle: Path, kind: str) -> None:
    name = next(n for n in _files(bundle) if n.endswith(kind))
    data = bytearray((bundle / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / name).write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=rf"{name} does not match its blake3 digest"):
        torchon.load(bundle)


def test_a_truncated_npy_file_is_refused_naming_it(bundle: Path) -> None:
    name = next(n for n in _files(bundle) if n.endswith(".npy"))
    content = (bundle / name).read_bytes()
    (bundle / name).write_bytes(content[:-10])
    with pytest.raises(
        BundleIntegrityError, match=rf"{name} has {len(content) - 10} bytes, the manifest says"
    ):
        torchon.load(bundle)


@pytest.mark.parametrize("trust", [False, True])
def test_a_pickle_in_an_npy_file_is_never_unpickled(bundle: Path, tmp_path: Path, trust: bool) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (eval, (MARKER_CODE.format(marker=str(marker)),))

    buffer = io.BytesIO()
    np.save(buffer, np.array([Evil()], dtype=object), allow_pickle=True)
    _forge(bundle, next(n for n in _files(bundle) if n.endswith(".npy")), buffer.getvalue())
    with pytest.raises(BundleError, match="Object arrays cannot be loaded when allow_pickle=False"):
        torchon.load(bundle, trust=trust)
    assert not marker.exists()


# -- joblib -------------------------------------------------------------------------------------------------------


def test_joblib_is_a_code_saver_that_loads_only_trusted(corpus: Any, tmp_path: Path) -> None:
    ratio = corpus.Ratio()
    ratio.value = Fraction(2, 7)
    torchon.save(ratio, tmp_path / "b")
    assert "state/n0/joblib/values.joblib" in _files(tmp_path / "b")
    with pytest.raises(BundleSafetyError, match=r"\(top\) was saved with 'joblib', a code saver"):
        torchon.load(tmp_path / "b")
    with pytest.raises(BundleSafetyError, match="a code saver"):  # allow trusts modules, never code savers
        torchon.load(tmp_path / "b", allow=["numpy_corpus"])
    assert torchon.load(tmp_path / "b", trust=True).value == Fraction(2, 7)


@pytest.mark.parametrize("trust", [False, True])
def test_a_bundle_calling_joblib_data_is_refused_even_trusted(
    corpus: Any, tmp_path: Path, trust: bool
) -> None:
    ratio = corpus.Ratio()
    ratio.value = Fraction(3, 7)
    torchon.save(ratio, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    for saver in manifest["nodes"][0]["savers"]:
        saver["safety"] = "data"
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        BundleSafetyError, match=r"says saver 'joblib' is 'data', but the installed one is 'code'"
    ):
        torchon.load(tmp_path / "b", trust=trust)


# -- bundles saved by torchon 0.1.0, whose kernel had these savers ------------------------------------------------


def test_arrays_saved_by_the_kernel_load_with_the_plugin(corpus: Any, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(DATA / "arrays_saved_by_torchon_0.1.0", tmp_path / "b"))
    savers = json.loads((bundle / "manifest.json").read_text())["nodes"][1]["savers"]
    assert savers[1] == {
        "name": "npy",
        "safety": "data",
        "protocol": 1,
        "distribution": "torchon",
        "version": "0.1.0",
    }
    loaded = torchon.load(bundle)
    assert loaded.name == "before" and loaded.first.steps == 4
    assert loaded.first.table.dtype == np.float32
    assert loaded.first.table.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_joblib_state_saved_by_the_kernel_loads_with_the_plugin_trusted(corpus: Any, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(DATA / "joblib_saved_by_torchon_0.1.0", tmp_path / "b"))
    with pytest.raises(BundleSafetyError, match=r"was saved with 'joblib', a code saver"):
        torchon.load(bundle)
    assert torchon.load(bundle, trust=True).value == Fraction(2, 7)


def test_resaving_writes_the_same_files(corpus: Any, tmp_path: Path) -> None:
    """The file format did not change with the move: a bundle saved now holds the bytes the kernel wrote."""
    before = Path(shutil.copytree(DATA / "arrays_saved_by_torchon_0.1.0", tmp_path / "before"))
    torchon.save(torchon.load(before), tmp_path / "b")
    for name in ("config.yaml", "state/n1/json/state.json", "state/n1/npy/0.npy", "state/n1/npy/index.json"):
        assert (tmp_path / "b" / name).read_bytes() == (before / name).read_bytes(), name
