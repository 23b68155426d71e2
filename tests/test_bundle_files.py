"""The saver file interface: digested writes (whole or streamed), verified reads, names kept inside the folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchon.bundle.files import BundleIntegrityError, ReadFolder, WriteFolder, digest_bytes, digest_file


def test_streamed_writes_are_digested_like_whole_ones(tmp_path: Path) -> None:
    records: dict = {}
    folder = WriteFolder(tmp_path, "n0/x", records)
    pieces = [bytes([i]) * (1 << 20) for i in range(70)]  # 70 MiB: crosses the background flush threshold
    with folder.open("big.bin") as f:
        for piece in pieces:
            f.write(piece)
    folder.write_bytes("small.bin", b"hello")
    whole = b"".join(pieces)
    assert records["n0/x/big.bin"] == {"size": len(whole), "blake3": digest_bytes(whole)}
    assert digest_file(tmp_path / "big.bin") == digest_bytes(whole)
    reader = ReadFolder(tmp_path, "n0/x", records, where="b")
    assert reader.names() == ["big.bin", "small.bin"]
    assert reader.read_bytes("big.bin") == whole and reader.read_text("small.bin") == "hello"
    assert reader.file("big.bin") == tmp_path / "big.bin"


def test_a_failed_stream_records_nothing(tmp_path: Path) -> None:
    records: dict = {}
    with pytest.raises(RuntimeError), WriteFolder(tmp_path, "n0", records).open("f.bin") as f:
        f.write(b"partial")
        raise RuntimeError("saver failed")
    assert records == {}


def test_reads_are_verified(tmp_path: Path) -> None:
    records: dict = {}
    WriteFolder(tmp_path, "n0", records).write_bytes("a.bin", b"abcdef")
    (tmp_path / "a.bin").write_bytes(b"abcdeF")
    reader = ReadFolder(tmp_path, "n0", records, where="bundle")
    with pytest.raises(BundleIntegrityError, match=r"bundle: n0/a\.bin does not match its blake3 digest"):
        reader.read_bytes("a.bin")
    with pytest.raises(BundleIntegrityError, match=r"n0/a\.bin does not match"):
        reader.file("a.bin")
    with pytest.raises(BundleIntegrityError, match=r"n0/b\.bin is not listed in the manifest"):
        reader.read_bytes("b.bin")


@pytest.mark.parametrize("name", ["../escape.bin", "/etc/passwd", "", "a/../../b"])
def test_names_stay_inside_the_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="must be a relative path inside"):
        WriteFolder(tmp_path, "n0", {}).write_bytes(name, b"x")
