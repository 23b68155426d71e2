"""torchon-mlflow: torchon runs, searches and experiments tracked in MLflow; bundles as MLflow models.

Nothing here imports mlflow: the plugin's entry module (:mod:`torchon_mlflow.plugin`) registers names, and mlflow
is imported when a run is tracked or an ``mlflow://``, ``models:/`` or ``runs:/`` URI is used.
"""

from __future__ import annotations

__all__ = ["MlflowStorage"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from torchon_mlflow import storage

        return getattr(storage, name)
    raise AttributeError(f"module 'torchon_mlflow' has no attribute {name!r}")
