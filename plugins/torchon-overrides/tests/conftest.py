"""torchon-overrides' tests: each runs with the built-ins and this plugin loaded, nothing else installed (also in
the ``torchon`` child processes they start)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from torchon.api import PluginManager, set_manager


@pytest.fixture(autouse=True)
def only_this_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginManager]:
    monkeypatch.setenv("TORCHON_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("TORCHON_DENY_PLUGINS", raising=False)
    manager = PluginManager.from_options(["overrides"], autoload=False)
    assert not manager.failed(), [f"{f.name}: {f.error}" for f in manager.failed()]
    previous = set_manager(manager)
    yield manager
    set_manager(previous)
