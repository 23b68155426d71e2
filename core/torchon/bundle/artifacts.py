"""Artifacts: files and folders a config names with ``!artifact URI`` (the kernel's tag, so a bundle needs no plugin
for them), fetched to a local path before the object that receives them is built, carried in every bundle it is
saved in. The value is an :class:`Artifact`: a ``str`` path (``open()`` and ``numpy.load()`` take it as is) that
remembers its URI. Remote ones are cached under their BLAKE3 digest. A bundle copies each into ``artifacts/`` and
writes ``!artifact artifacts/NAME`` in its config, which loading resolves to that copy, digest checked.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from torchon.artifact import Artifact
from torchon.bundle.files import DIGEST, BundleIntegrityError, FileRecord, digest_bytes, digest_file

__all__ = [
    "ARTIFACTS",
    "Artifact",
    "artifact",
    "cache_dir",
    "carry_into",
    "fetch",
    "fetch_artifacts",
    "loading",
]

ARTIFACTS = "artifacts"


def cache_dir() -> Path:
    """Where remote artifacts are kept: ``TORCHON_CACHE_DIR/artifacts``, else ``~/.cache/torchon/artifacts``."""
    base = os.environ.get("TORCHON_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torchon"
    )
    return Path(base) / ARTIFACTS


def _tree_digest(root: Path) -> str:
    """One digest for a file, or for a folder (over its files' relative names and digests)."""
    if root.is_file():
        return digest_file(root)
    lines = [
        f"{p.relative_to(root).as_posix()}\0{digest_file(p)}" for p in sorted(root.rglob("*")) if p.is_file()
    ]
    return digest_bytes("\n".join(lines).encode("utf-8"))


def _into_cache(local: Path, name: str) -> Path:
    """Move a downloaded file or folder into the cache under its digest; return its place there."""
    final = cache_dir() / _tree_digest(local) / name
    if not final.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(local, final)
        except OSError:  # another process put it there first, or a different filesystem
            if not final.exists():
                shutil.move(str(local), final)
    return final


def fetch(uri: str, *, base: Path | None = None) -> Artifact:
    """A local path for the file or folder at ``uri``: local paths as they are, others downloaded to the cache."""
    from torchon.storage import LocalStorage, split_scheme, storage_for

    uri = os.fspath(uri)
    scheme, rest = split_scheme(uri)
    if scheme == "file":
        path = LocalStorage.local_path(uri)
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        if not path.exists():
            raise FileNotFoundError(f"artifact {uri}: no such file or folder ({path})")
        return Artifact(path.resolve(), uri)
    name = PurePosixPath(rest.rstrip("/")).name or "artifact"
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache) as tmp:
        local = storage_for(uri).download(uri, Path(tmp) / name)
        return Artifact(_into_cache(local, name), uri)


def fetch_artifacts(uri: str, keys: Iterable[str]) -> dict[str, Artifact]:
    """``{key: local path}`` for each ``URI/key``: the dict a class model's ``__init__(self, artifacts)`` takes, to
    build one by hand (``Model(torchon.fetch_artifacts("s3://bucket/run-7", ["weights"]))``)."""
    root = os.fspath(uri).rstrip("/")
    return {key: fetch(f"{root}/{key}") for key in keys}


@dataclass
class _Loading:
    folder: Path
    files: Mapping[str, FileRecord]
    where: str
    keep: bool  # the folder is removed after loading: move artifacts into the cache
    moved: dict[str, Path] = field(default_factory=dict)  # name in the bundle -> its place in the cache


_loading: contextvars.ContextVar[_Loading | None] = contextvars.ContextVar("torchon_artifacts", default=None)


@contextlib.contextmanager
def loading(folder: Path, files: Mapping[str, FileRecord], where: str, *, keep: bool) -> Iterator[None]:
    """While a bundle's objects are built, ``!artifact artifacts/NAME`` means that bundle's copy, every file of
    which is checked against its digest first (savers check theirs as they read)."""
    for name, record in files.items():
        if name.startswith(ARTIFACTS + "/") and digest_file(folder / name) != record[DIGEST]:
            raise BundleIntegrityError(f"{where}: {name} does not match its {DIGEST} digest (altered)")
    token = _loading.set(_Loading(folder, files, where, keep))
    try:
        yield
    finally:
        _loading.reset(token)


def _from_bundle(name: str, state: _Loading) -> Artifact:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or pure.parts[0] != ARTIFACTS:
        raise ValueError(
            f"a bundle's artifacts must be inside it: !artifact {name} is not under {ARTIFACTS}/ "
            "(a bundle never fetches from elsewhere when it loads)"
        )
    key = pure.as_posix()
    if not any(k == key or k.startswith(key + "/") for k in state.files):
        raise BundleIntegrityError(f"{state.where}: {key} is not listed in the manifest")
    local = (state.folder / key).absolute()
    if state.keep:
        if key not in state.moved:
            state.moved[key] = _into_cache(local, pure.name)
        local = state.moved[key]
    return Artifact(local, str(local))


def artifact(value: Any) -> Artifact:
    """The ``!artifact URI`` value tag: relative paths are relative to the config being run."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"!artifact takes a URI or path (a string), not {value!r}")
    state = _loading.get()
    if state is not None:
        return _from_bundle(value, state)
    from torchon.env import get_env

    config_path = get_env().config_path
    return fetch(value, base=Path(config_path).parent if config_path else None)


def carry_into(found: Iterable[tuple[Artifact, Any]], staging: Path, records: dict[str, FileRecord]) -> None:
    """Copy each artifact into ``staging/artifacts/``, record its files' digests, and point its config entry
    (an object with a ``value``, from :func:`torchon.config.dump.dump_tree`) at the copy."""
    placed: dict[str, str] = {}  # local path -> name in the bundle
    for art, entry in found:
        source = Path(art)
        if str(source) not in placed:
            if not source.exists():
                raise FileNotFoundError(f"artifact {art.uri}: its local copy {source} is gone")
            stem, n = source.name or "artifact", 1
            name = f"{ARTIFACTS}/{stem}"
            while name in placed.values():
                n += 1
                name = f"{ARTIFACTS}/{n}-{stem}"
            files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
            for file in files:
                key = name if file == source else f"{name}/{file.relative_to(source).as_posix()}"
                (staging / key).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, staging / key)  # fsynced with the others before the manifest
                records[key] = {"size": (staging / key).stat().st_size, DIGEST: digest_file(staging / key)}
            if not files:
                raise ValueError(f"artifact {art.uri} is an empty folder; a bundle carries files")
            placed[str(source)] = name
        entry.value = placed[str(source)]
