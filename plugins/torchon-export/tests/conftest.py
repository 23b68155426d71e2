"""Fixtures for torchon-export's tests: the plugin manager with this plugin, torchon-s3 and the test plugin
``corpus/export_corpus.py``; the environment for ``torchon`` child processes; a trained classifier."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import torchon.plugins as plugins_module

CORPUS = Path(__file__).parent / "corpus"
sys.path.insert(0, str(CORPUS))  # the test plugin and export_helpers, importable by the test modules

from export_helpers import PLUGINS, training_data  # noqa: E402


@pytest.fixture
def corpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """The built-ins, torchon-export, torchon-s3 and the test plugin; gives the test plugin's module."""
    monkeypatch.setenv("TORCHON_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TORCHON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(CORPUS))
    manager = plugins_module.PluginManager.from_options(PLUGINS, autoload=False)
    assert not manager.failed(), [f"{f.name}: {f.error}" for f in manager.failed()]
    previous = plugins_module.set_manager(manager)
    import export_corpus

    yield export_corpus
    plugins_module.set_manager(previous)


@pytest.fixture
def trained(corpus: Any, tmp_path: Path) -> Path:
    """A classifier trained and saved as a bundle, as a training run would leave it."""
    import torchon

    x, y = training_data()
    model = corpus.Classifier(n_features=2).fit(x, y)
    path = tmp_path / "saved" / "model"
    torchon.save(model, path)
    return path
