"""The files a saver writes and reads, digested on the way in and verified on the way out.

Savers never read raw paths: :class:`ReadFolder` checks bytes against the manifest's BLAKE3 digest as it reads them,
so verification reads each file once; :class:`WriteFolder` digests bytes before writing them (no second read).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from torchon.errors import UserError

__all__ = [
    "DIGEST",
    "BundleError",
    "BundleIntegrityError",
    "FileRecord",
    "ReadFolder",
    "StreamWriter",
    "WriteFolder",
    "check_file",
    "digest_bytes",
    "digest_file",
]

DIGEST = "blake3"
_FLUSH_EVERY = 64 * 1024 * 1024


class BundleError(UserError):
    """A bundle cannot be loaded; the message names the file or component and what to do."""


class BundleIntegrityError(BundleError):
    """A bundle's file is missing, extra, truncated or altered; the message names it."""


FileRecord = dict[str, Any]  # {"size": int, "blake3": hex}


def _hasher() -> Any:
    from blake3 import blake3

    return blake3(max_threads=blake3.AUTO)


def digest_bytes(data: bytes | memoryview) -> str:
    return str(_hasher().update(data).hexdigest())


def digest_file(path: Path) -> str:
    h = _hasher()
    if os.path.getsize(path):  # mmap of an empty file fails
        h.update_mmap(str(path))
    return str(h.hexdigest())


def check_file(where: str, key: str, record: FileRecord, size: int | None, digest: str | None = None) -> None:
    """Raise, naming ``key``, when the size or digest given is not the one the manifest records."""
    if size is not None and size != record.get("size"):
        raise BundleIntegrityError(
            f"{where}: {key} has {size} bytes, the manifest says {record.get('size')} (truncated or altered)"
        )
    if digest is not None and digest != record.get(DIGEST):
        raise BundleIntegrityError(f"{where}: {key} does not match its {DIGEST} digest (altered)")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _check_name(name: str) -> str:
    """A relative POSIX path that stays inside the folder."""
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in name:
        raise ValueError(f"saver file name {name!r} must be a relative path inside the saver's folder")
    return pure.as_posix()


class StreamWriter:
    """A file written in pieces, each hashed in a worker thread while this one writes it, and pushed to disk
    (``fdatasync``) in the background every 64 MiB, so digesting and the final ``fsync`` add little to the
    writing. Use as a context manager; the file's record is made on a clean exit."""

    def __init__(self, path: Path, key: str, records: dict[str, FileRecord]) -> None:
        self._file = open(path, "wb", buffering=0)
        self._key = key
        self._records = records
        self._hasher = _hasher()
        self._size = 0
        self._unflushed = 0
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="torchon-write")
        self._flush: Any = None

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        hashing = self._pool.submit(self._hasher.update, view)
        written = 0
        try:
            while written < len(view):
                written += self._file.write(view[written:]) or 0
        finally:
            hashing.result()  # the caller may reuse its buffer once we return
        self._size += written
        self._unflushed += written
        if self._unflushed >= _FLUSH_EVERY and (self._flush is None or self._flush.done()):
            self._flush = self._pool.submit(os.fdatasync, self._file.fileno())
            self._unflushed = 0
        return written

    def close(self) -> None:
        try:
            if self._flush is not None:
                self._flush.result()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
            self._pool.shutdown()
        self._records[self._key] = {"size": self._size, DIGEST: str(self._hasher.hexdigest())}

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self._file.close()
            self._pool.shutdown()


class WriteFolder:
    """Where one saver of one component writes; records every file's size and digest.

    :ivar path: the folder on disk (for savers that must hand a path to a library).
    :ivar prefix: the folder's path inside the bundle.
    """

    def __init__(self, path: Path, prefix: str, records: dict[str, FileRecord]) -> None:
        self.path = path
        self.prefix = prefix
        self._records = records
        self._pending: list[tuple[str, Path]] = []

    def _place(self, name: str) -> tuple[str, Path]:
        """``name``'s key in the manifest and its path, its folder made."""
        rel = _check_name(name)
        (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
        return _join(self.prefix, rel), self.path / rel

    def write_bytes(self, name: str, data: bytes | memoryview) -> None:
        """Write a small file; the save fsyncs all of them together before it writes the manifest."""
        key, path = self._place(name)
        self._records[key] = {"size": len(data), DIGEST: digest_bytes(data)}
        path.write_bytes(data)

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode("utf-8"))

    def open(self, name: str) -> StreamWriter:
        """Write ``name`` in pieces (``with folder.open(name) as f: f.write(piece)``), the fastest way for a
        large file."""
        key, path = self._place(name)
        return StreamWriter(path, key, self._records)

    def file(self, name: str) -> Path:
        """A path for a library to write ``name`` to; it is digested when the saver returns."""
        key, path = self._place(name)
        self._pending.append((key, path))
        return path

    def finish(self) -> None:
        """Digest the files written through :meth:`file`."""
        for key, path in self._pending:
            if not path.is_file():
                raise FileNotFoundError(f"saver promised {key} but did not write it")
            self._records[key] = {"size": path.stat().st_size, DIGEST: digest_file(path)}
        self._pending.clear()


class ReadFolder:
    """What one saver of one component reads back; every read is checked against the manifest."""

    def __init__(self, path: Path, prefix: str, records: Mapping[str, FileRecord], *, where: str) -> None:
        self.path = path
        self.prefix = prefix
        self._records = records
        self._where = where  # how messages name the bundle
        self._pending: list[tuple[str, Any]] = []

    def names(self) -> list[str]:
        """The files this saver wrote, relative to its folder."""
        start = _join(self.prefix, "")
        return sorted(k[len(start) :] for k in self._records if k.startswith(start))

    def _locate(self, name: str) -> tuple[str, FileRecord, Path]:
        rel = _check_name(name)
        key = _join(self.prefix, rel)
        record = self._records.get(key)
        if record is None:
            raise BundleIntegrityError(f"{self._where}: {key} is not listed in the manifest")
        return key, record, self.path / rel

    def read_bytes(self, name: str) -> bytes:
        key, record, path = self._locate(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BundleIntegrityError(f"{self._where}: {key} is missing") from None
        check_file(self._where, key, record, len(data), digest_bytes(data))
        return data

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode("utf-8")

    def file(self, name: str, *, verify_later: bool = False) -> Path:
        """A path for libraries that read by path, verified before it is returned.

        ``verify_later=True`` returns at once and digests the file in the background while the saver reads it;
        :meth:`finish` (called by the loader right after the saver's ``load``) raises if it was altered, so nothing
        loaded from it is ever returned. Only for data savers: a file that can run code must be verified first.
        """
        key, record, path = self._locate(name)
        if not path.is_file():
            raise BundleIntegrityError(f"{self._where}: {key} is missing")
        check_file(self._where, key, record, path.stat().st_size)
        if verify_later:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchon-verify")
            self._pending.append((key, pool.submit(digest_file, path)))
            pool.shutdown(wait=False)
        else:
            check_file(self._where, key, record, None, digest_file(path))
        return path

    def finish(self) -> None:
        """Wait for the digests started by ``file(..., verify_later=True)``; raise if a file was altered."""
        pending, self._pending = self._pending, []
        for key, future in pending:
            check_file(self._where, key, self._records[key], None, future.result())
