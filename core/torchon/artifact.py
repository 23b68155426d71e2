"""What an ``!artifact`` value is once fetched (:mod:`torchon.bundle.artifacts`): a local path, a ``str`` any class
model can open, that remembers its URI so a bundle the object is saved in can carry the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["Artifact"]


class Artifact(str):
    """A local path to an artifact's file or folder; :attr:`uri` is where it came from."""

    uri: str

    def __new__(cls, path: str | os.PathLike[str], uri: str | None = None) -> Artifact:
        self = super().__new__(cls, os.fspath(path))
        self.uri = uri if uri is not None else os.fspath(path)
        return self

    @property
    def path(self) -> Path:
        return Path(self)

    def __repr__(self) -> str:
        return f"Artifact({str(self)!r}, uri={self.uri!r})"

    def __reduce__(self) -> Any:
        return (Artifact, (str(self), self.uri))
