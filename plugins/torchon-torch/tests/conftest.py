"""Fixtures for torchon-torch's tests: saver folders on disk, and plugin managers that load this plugin."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import torchon.plugins as plugins_module
from torchon.bundle.files import FileRecord, ReadFolder, WriteFolder
from torchon.saver import Saver

CORPUS = Path(__file__).parent / "corpus"


@dataclass
class SaverBench:
    """Runs one saver the way a bundle does: save into a folder (digests recorded), then load back verified."""

    root: Path
    records: dict[str, FileRecord] = field(default_factory=dict)

    def prefix(self, saver: Saver) -> str:
        return f"root/{saver.name}"

    def folder(self, saver: Saver) -> Path:
        return self.root / self.prefix(saver)

    def save(self, saver: Saver, obj: Any, state: dict[str, Any] | None = None) -> dict[str, Any]:
        out = WriteFolder(self.folder(saver), self.prefix(saver), self.records)
        out.path.mkdir(parents=True, exist_ok=True)
        left = saver.save(obj, dict(state or {}), out)
        out.finish()
        return left

    def load(self, saver: Saver, obj: Any, state: dict[str, Any] | None = None) -> dict[str, Any]:
        reader = ReadFolder(self.folder(saver), self.prefix(saver), self.records, where="test")
        loaded = saver.load(obj, dict(state or {}), reader)
        reader.finish()  # as torchon.load does: digests checked in the background are awaited here
        return loaded

    def files(self, saver: Saver) -> list[str]:
        return sorted(p.name for p in self.folder(saver).iterdir())


@pytest.fixture
def bench(tmp_path: Path) -> SaverBench:
    return SaverBench(tmp_path)


@contextmanager
def installed(names: list[str]) -> Iterator[plugins_module.PluginManager]:
    """A plugin manager with the built-ins and ``names`` only, as the process's while the block runs."""
    manager = plugins_module.PluginManager.from_options(names, autoload=False)
    assert not manager.failed(), [f"{f.name}: {f.error}" for f in manager.failed()]
    previous = plugins_module.set_manager(manager)
    try:
        yield manager
    finally:
        plugins_module.set_manager(previous)


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[plugins_module.PluginManager]:
    """The built-ins and this plugin."""
    monkeypatch.setenv("TORCHON_DISABLE_PLUGIN_AUTOLOAD", "1")
    with installed(["torch"]) as manager:
        yield manager


@pytest.fixture
def corpus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The built-ins, this plugin and the test plugin ``corpus/torch_corpus.py`` (``!TinyNet``, ``!Fit``);
    gives the test plugin's module."""
    monkeypatch.setenv("TORCHON_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.syspath_prepend(str(CORPUS))
    with installed(["torch", "torch_corpus"]):
        import torch_corpus

        yield torch_corpus
