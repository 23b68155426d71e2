"""torchon-numpy's tests: each runs with the built-ins, this plugin and the test plugin in ``corpus/`` (its tags
``!Table``, ``!Pair``, ``!Ratio``), and nothing else installed loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from torchon.api import PluginManager, set_manager

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture
def corpus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The test plugin's module, with a plugin manager of the built-ins, ``numpy`` and ``numpy_corpus`` in force."""
    monkeypatch.setenv("TORCHON_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("TORCHON_DENY_PLUGINS", raising=False)
    monkeypatch.syspath_prepend(str(CORPUS))
    manager = PluginManager.from_options(["numpy", "numpy_corpus"], autoload=False)
    assert not manager.failed() and not manager.conflicts(), [
        f"{f.name}: {f.error}" for f in manager.failed()
    ]
    previous = set_manager(manager)
    import numpy_corpus

    yield numpy_corpus
    set_manager(previous)
