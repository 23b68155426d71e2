"""Storage backends by URI scheme, where bundles and artifacts live: the kernel's local paths and ``file://``, and
schemes plugins add (``s3://``) through ``torchon_register_storage``."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlparse

from torchon.errors import UserError
from torchon.first_party import first_party

__all__ = ["LocalStorage", "Storage", "StorageError", "split_scheme", "storage_for"]


class StorageError(UserError):
    """A URI cannot be read or written; the message names it."""


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):(//?)")


def split_scheme(uri: str) -> tuple[str, str]:
    """``("s3", "bucket/prefix")`` for ``s3://bucket/prefix``, ``("models", "name/1")`` for MLflow's one-slash
    ``models:/name/1``; plain paths (``C:/x`` too: a scheme has two letters or more) are scheme ``file``."""
    match = _SCHEME.match(uri)
    if match is None:
        return "file", uri
    scheme, rest = match.group(1).lower(), uri[match.end() :]
    if scheme == "file" and match.group(2) == "/":  # file:/abs/path
        rest = "/" + rest
    return scheme, rest


class Storage(ABC):
    """A place holding files and folders under URIs of one scheme."""

    scheme: ClassVar[str]

    @abstractmethod
    def exists(self, uri: str) -> bool:
        """Whether something is stored at ``uri``."""

    @abstractmethod
    def download(self, uri: str, dest: Path) -> Path:
        """Copy the file or folder at ``uri`` to local ``dest``; return the local path."""

    @abstractmethod
    def upload(self, src: Path, uri: str) -> None:
        """Store local file or folder ``src`` at ``uri``, replacing what was there only once it is complete. A
        bundle's ``manifest.json`` is its commit marker: upload it last, so a failed upload never leaves a bundle
        that loads."""


class LocalStorage(Storage):
    """Local paths and ``file://`` URIs."""

    scheme = "file"

    @staticmethod
    def local_path(uri: str) -> Path:
        if uri.startswith("file://"):
            parsed = urlparse(uri)
            return Path(unquote(parsed.netloc + parsed.path)).expanduser()
        return Path(uri).expanduser()

    def exists(self, uri: str) -> bool:
        return self.local_path(uri).exists()

    def download(self, uri: str, dest: Path) -> Path:
        src = self.local_path(uri)
        if not src.exists():
            raise StorageError(f"{uri}: no such file or folder")
        _copy(src, dest)
        return dest

    def upload(self, src: Path, uri: str) -> None:
        dest = self.local_path(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            target = staging / "item"
            _copy(src, target)
            if dest.is_dir() and not dest.is_symlink():
                old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
                os.replace(dest, old / "item")
                os.replace(target, dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(target, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _copy(src: Path, dest: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def storage_for(uri: str) -> Storage:
    """The backend registered for ``uri``'s scheme; the error lists the schemes there are."""
    from torchon.plugins import get_manager

    scheme, _ = split_scheme(uri)
    manager = get_manager()
    entry = manager.storage.get(scheme)
    if entry is None:
        known = ", ".join(f"{s}://" for s in manager.storage.names())
        dist = first_party("storage", scheme)
        fix = f"{dist} (pip install {dist})" if dist else "the plugin for it"
        raise StorageError(f"{uri}: no storage backend for scheme {scheme!r} (known: {known}); install {fix}")
    backend: Storage = entry.load()()
    return backend
