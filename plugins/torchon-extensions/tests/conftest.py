"""torchon-extensions' tests: the helpers importable (pytest runs with --import-mode=importlib), and in-process
tests with a plugin manager of the built-ins, this plugin and the test plugin ``corpus/ext_corpus.py``.

Tests that start ``torchon`` in a child process leave plugin autoload on there, so the child finds this plugin
the way a user's ``torchon`` does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import torchon.plugins as plugins_module
from torchon.env import get_env, set_env

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))


@pytest.fixture(autouse=True)
def manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[plugins_module.PluginManager]:
    """The process's plugin manager: the built-ins, torchon-extensions and ``ext_corpus``; a fresh environment."""
    monkeypatch.syspath_prepend(str(TESTS / "corpus"))
    made = plugins_module.PluginManager.from_options(["extensions", "ext_corpus"], autoload=False)
    assert not made.failed(), [f"{f.name}: {f.error}" for f in made.failed()]
    previous_manager = plugins_module.set_manager(made)
    previous_env = get_env()
    saved_path = list(sys.path)
    yield made
    sys.path[:] = saved_path
    set_env(previous_env)
    plugins_module.set_manager(previous_manager)


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
