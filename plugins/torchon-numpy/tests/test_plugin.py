"""The plugin as torchon sees it: a cheap entry module, and the savers it registers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

from torchon.api import get_manager


def test_entry_module_and_registration_import_neither_numpy_nor_joblib() -> None:
    code = textwrap.dedent(
        """
        import sys
        from torchon.api import PluginManager
        manager = PluginManager.from_options(["numpy"], autoload=False)
        assert not manager.failed(), manager.failed()
        assert "torchon_numpy.plugin" in sys.modules
        heavy = sorted(m for m in ("numpy", "joblib", "torchon_numpy.savers") if m in sys.modules)
        assert not heavy, f"registering imported {heavy}"
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_registrations(corpus: Any) -> None:
    manager = get_manager()
    assert manager.savers.names() == ["joblib", "json", "npy"]  # json is the kernel's
    savers = {e.name: e for e in manager.savers.by_plugin("numpy")}
    assert sorted(savers) == ["joblib", "npy"]
    assert (savers["npy"].options["safety"], savers["joblib"].options["safety"]) == ("data", "code")
    assert savers["npy"].options["values"] == ("numpy:ndarray",)
    assert not savers["joblib"].options.get("values") and not savers["joblib"].options.get("types")
    for entry in savers.values():  # every target imports and is the class registered, with the same safety
        assert entry.load().name == entry.name
        assert entry.load().safety == entry.options["safety"]
        assert entry.load().protocol == 1  # what bundles saved by torchon 0.1.0's own savers recorded
    assert manager.plugins["numpy"].distribution == "torchon-numpy"
