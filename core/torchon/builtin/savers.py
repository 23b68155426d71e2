"""The built-in saver: JSON, the default (``npy`` and ``joblib`` come with the torchon-numpy plugin)."""

from __future__ import annotations

from torchon.hookspecs import hookimpl
from torchon.registry import SaverRegistry


@hookimpl
def torchon_register_savers(savers: SaverRegistry) -> None:
    savers.add(
        "json", "torchon.bundle.savers:JsonSaver", safety="data", help="plain data as JSON (the default)"
    )
