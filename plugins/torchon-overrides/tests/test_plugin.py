"""The plugin as torchon sees it: a cheap entry module that implements the kernel's override hook, and a config
with overrides refused, naming this plugin, when it is not loaded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from torchon.api import ConfigError, PluginManager, load_config, set_manager


def test_the_entry_module_imports_neither_the_grammar_nor_the_completer() -> None:
    code = textwrap.dedent(
        """
        import sys
        from torchon.api import PluginManager
        manager = PluginManager.from_options(["overrides"], autoload=False)
        assert not manager.failed(), manager.failed()
        assert manager.plugins["overrides"].distribution == "torchon-overrides"
        heavy = sorted(m for m in ("torchon_overrides.overrides", "torchon_overrides.completion") if m in sys.modules)
        assert not heavy, f"loading imported {heavy}"
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_without_the_plugin_overrides_are_an_error_naming_it(tmp_path: Path) -> None:
    job = "import torchon\n\nclass Job(torchon.Runnable):\n    def __init__(self, lr: float = 0.1):\n"
    (tmp_path / "job.py").write_text(job + "        self.lr = lr\n\n    def run(self): ...\n")
    config = tmp_path / "job.yaml"
    config.write_text("job: ./job.py\n---\n!job.Job {}\n")
    try:
        assert load_config(config, overrides=["+lr=0.5"]).build().root.lr == 0.5  # with the plugin
        previous = set_manager(PluginManager.from_options([], autoload=False))
        try:
            with pytest.raises(ConfigError) as info:
                load_config(config, overrides=["+lr=0.5"])
            assert str(info.value.mark) == "<command line>:1:1"
            assert "come with the torchon-overrides plugin" in info.value.what
            assert "pip install torchon-overrides" in info.value.fix
            assert load_config(config).build().root.lr == 0.1  # without overrides, nothing else is needed
        finally:
            set_manager(previous)
    finally:
        sys.modules.pop("job", None)
