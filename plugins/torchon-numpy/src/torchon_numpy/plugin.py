"""Entry module of the torchon-numpy plugin: names only, nothing imported until a bundle saves or loads with them."""

from __future__ import annotations

from torchon.api import SaverRegistry, hookimpl


@hookimpl
def torchon_register_savers(savers: SaverRegistry) -> None:
    savers.add(
        "npy", "torchon_numpy.savers:NumpySaver", safety="data", values=["numpy:ndarray"], help="numpy arrays"
    )
    savers.add("joblib", "torchon_numpy.savers:JoblibSaver", safety="code", help="anything joblib can pickle")
