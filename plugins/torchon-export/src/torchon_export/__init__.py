"""torchon-export: the Exporter/Builder runnable, ``torchon serve`` and its client.

Names are imported on first use, so ``import torchon_export`` stays cheap (no FastAPI, no uvicorn).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Builder": "torchon_export.exporter",
    "Exporter": "torchon_export.exporter",
    "Client": "torchon_export.client",
    "ServeError": "torchon_export.client",
    "create_app": "torchon_export.server",
    "WIRE_VERSION": "torchon_export.wire",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'torchon_export' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
