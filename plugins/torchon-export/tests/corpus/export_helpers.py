"""Helpers for torchon-export's tests (importable because conftest puts this folder on sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).parent
PLUGINS = ["export", "s3", "numpy", "export_corpus"]  # numpy: the trained weights' saver


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A ``torchon`` child process that loads only :data:`PLUGINS`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHON_")}
    env["PYTHONPATH"] = os.pathsep.join([str(CORPUS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["TORCHON_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["TORCHON_CACHE_DIR"] = str(tmp_path / "cache")
    env.update(extra)
    return env


def torchon_cli(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("torchon")
    plugins = [a for name in PLUGINS for a in ("-p", name)]
    return subprocess.run(
        [str(exe), *plugins, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def training_data(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    return x, (x[:, 0] + 2 * x[:, 1] > 0).astype(float)


def python_child(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in another Python process whose plugin manager has just :data:`PLUGINS`."""
    prelude = (
        "import torchon.plugins as _p\n"
        f"_p.set_manager(_p.PluginManager.from_options({PLUGINS!r}, autoload=False))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, env=env, timeout=timeout
    )
