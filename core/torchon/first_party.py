"""The names torchon's own plugins register, and the distribution of each: the one table errors consult to say
"install torchon-torch" when a config uses ``!Trainer`` without it. Nothing here is imported or registered: the
plugins register themselves, like any other."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FIRST_PARTY", "first_party"]

FIRST_PARTY: Mapping[str, Mapping[str, str]] = {
    "tags": {
        "Trainer": "torchon-torch",
        "Evaluator": "torchon-torch",
        "torch": "torchon-torch",
        "Search": "torchon-search",
        "Experiment": "torchon-search",
        "grid": "torchon-search",
        "g": "torchon-search",
        "choice": "torchon-search",
        "uniform": "torchon-search",
        "loguniform": "torchon-search",
        "randint": "torchon-search",
        "Script": "torchon-script",
        "Exporter": "torchon-export",
        "Builder": "torchon-export",
    },
    "executors": {"local": "torchon-search", "ray": "torchon-ray"},
    "storage": {
        "s3": "torchon-s3",
        "mlflow": "torchon-mlflow",
        "models": "torchon-mlflow",
        "runs": "torchon-mlflow",
    },
    "resolvers": {"git": "torchon-extensions", "pypi": "torchon-extensions"},
    "commands": {
        "serve": "torchon-export",
        "submit": "torchon-ray",
        "new": "torchon-extensions",
        "report": "torchon-search",
    },
}


def first_party(kind: str, name: str) -> str | None:
    """The distribution of torchon's that registers ``name`` among ``kind`` (``tags``, ``executors``, ...)."""
    return FIRST_PARTY.get(kind, {}).get(name)
