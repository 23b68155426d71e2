"""Built-in savers: JSON (the default), numpy arrays as .npy, and joblib for what nothing else can save."""

from __future__ import annotations

from torchon.hookspecs import hookimpl
from torchon.registry import SaverRegistry


@hookimpl
def torchon_register_savers(savers: SaverRegistry) -> None:
    savers.add(
        "json", "torchon.bundle.savers:JsonSaver", safety="data", help="plain data as JSON (the default)"
    )
    savers.add(
        "npy",
        "torchon.bundle.savers:NumpySaver",
        safety="data",
        values=["numpy:ndarray"],
        help="numpy arrays",
    )
    savers.add(
        "joblib", "torchon.bundle.savers:JoblibSaver", safety="code", help="anything joblib can pickle"
    )
