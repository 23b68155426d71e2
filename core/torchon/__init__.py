"""torchon: YAML configs of objects, runnables, safe bundles, plugins.

Public names are imported on first use so that ``import torchon`` (and ``torchon --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Component": "torchon.component",
    "Context": "torchon.component",
    "Partial": "torchon.component",
    "Runnable": "torchon.component",
    "Saver": "torchon.saver",
    "hookimpl": "torchon.hookspecs",
    "Environment": "torchon.env",
    "get_env": "torchon.env",
    "set_env": "torchon.env",
    "report": "torchon.metrics",
    "log": "torchon.metrics",
    "RunFailed": "torchon.errors",
    "ArgumentError": "torchon.errors",
    "ConfigError": "torchon.config.errors",
    "load_config": "torchon.config",
    "Storage": "torchon.storage",
    "save": "torchon.bundle.save",
    "load": "torchon.bundle.load",
    "fetch_artifacts": "torchon.bundle.artifacts",
}

__all__ = [
    "ArgumentError",
    "Component",
    "ConfigError",
    "Context",
    "Environment",
    "Partial",
    "RunFailed",
    "Runnable",
    "Saver",
    "Storage",
    "__version__",
    "fetch_artifacts",
    "get_env",
    "hookimpl",
    "load",
    "load_config",
    "log",
    "report",
    "save",
    "set_env",
]

if TYPE_CHECKING:
    from torchon.bundle.artifacts import fetch_artifacts
    from torchon.bundle.load import load
    from torchon.bundle.save import save
    from torchon.component import Component, Context, Partial, Runnable
    from torchon.config import load_config
    from torchon.config.errors import ConfigError
    from torchon.env import Environment, get_env, set_env
    from torchon.errors import ArgumentError, RunFailed
    from torchon.hookspecs import hookimpl
    from torchon.metrics import log, report
    from torchon.saver import Saver
    from torchon.storage import Storage


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'torchon' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
