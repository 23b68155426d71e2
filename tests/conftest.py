"""Kernel tests run without autoloading installed plugins, with a fresh plugin manager and environment each."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import torchon.plugins as plugins_module
from torchon.env import get_env, set_env

TESTS = Path(__file__).parent
REPO = TESTS.parent


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TORCHON_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("TORCHON_DENY_PLUGINS", raising=False)
    previous_manager = plugins_module.set_manager(None)
    previous_env = get_env()
    saved_path = list(sys.path)
    yield
    sys.path[:] = saved_path
    set_env(previous_env)
    plugins_module.set_manager(previous_manager)


@pytest.fixture
def corpus_manager() -> plugins_module.PluginManager:
    """A manager with the built-ins and the test plugin in tests/corpus/corpus_plugin.py, installed as the process's."""
    sys.path.insert(0, str(TESTS / "corpus"))
    manager = plugins_module.PluginManager.from_options(["corpus_plugin"], autoload=False)
    plugins_module.set_manager(manager)
    return manager


def _cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS / "corpus"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["TORCHON_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.update(extra)
    return env


@pytest.fixture
def cli_env():  # type: ignore[no-untyped-def]
    """Makes the environment for a ``torchon`` child process that can import the corpus plugin."""
    return _cli_env
