"""The ``python_function`` flavor of a torchon bundle: MLflow's loader module for bundles saved as MLflow models.

An MLflow model that :class:`~torchon_mlflow.storage.MlflowStorage` logged holds the bundle under ``data/`` and
names this module as its loader, so ``mlflow.pyfunc.load_model(uri)`` and ``mlflow models serve -m uri`` call
:func:`_load_pyfunc`, which loads the bundle with ``torchon.load``: safe by default (no code savers, only
registered components and ``torchon.Component`` classes; every file checked against its digest). A model whose
bundle needs more says so at load time, through MLflow's ``model_config``::

    mlflow.pyfunc.load_model("models:/classifier/1", model_config={"allow": ["my_ext"]})  # or {"trust": True}

``predict(model_input, params)`` calls the component's ``predict(model_input, **params)``: what MLflow's scoring
server parsed from the request (a pandas DataFrame for ``dataframe_split``/``dataframe_records``, a numpy array or
a dict of them for ``inputs``/``instances``), as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["TorchonPyfunc"]

LOADER_MODULE = "torchon_mlflow.pyfunc"
_OPTIONS = ("trust", "allow", "path")


class TorchonPyfunc:
    """A loaded bundle as MLflow's pyfunc model implementation."""

    def __init__(self, component: Any) -> None:
        self.component = component

    def predict(self, model_input: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self.component.predict(model_input, **dict(params or {}))

    @property
    def python_model(self) -> Any:
        """The torchon component: what MLflow's ``PyFuncModel.unwrap_python_model()`` gives back."""
        return self.component


def _load_pyfunc(data_path: str, model_config: Mapping[str, Any] | None = None) -> TorchonPyfunc:
    """MLflow's entry point: the bundle at ``data_path``, loaded, ready to predict."""
    import torchon

    config = dict(model_config or {})
    unknown = sorted(set(config) - set(_OPTIONS))
    if unknown:
        raise ValueError(
            f"model_config of a torchon bundle takes {', '.join(_OPTIONS)}; not {', '.join(unknown)}"
        )
    allow = config.get("allow") or ()
    component = torchon.load(
        data_path,
        trust=bool(config.get("trust", False)),
        allow=[allow] if isinstance(allow, str) else list(allow),
        path=config.get("path"),
    )
    if not callable(getattr(component, "predict", None)):
        raise TypeError(
            f"the bundle's {type(component).__qualname__} has no predict() method, so MLflow cannot serve it; "
            "save the component that predicts (or load a part of the bundle with model_config={'path': ...})"
        )
    return TorchonPyfunc(component)
