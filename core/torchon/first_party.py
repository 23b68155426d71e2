"""The names torchon's own plugins register, and the distribution of each: the one table errors consult to say
"install torchon-torch" when a config uses ``!Trainer`` without it. Nothing here is imported or registered: the
plugins register themselves, like any other."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FIRST_PARTY", "first_party"]

# Written as what each distribution registers, looked up as name -> distribution.
FIRST_PARTY: Mapping[str, Mapping[str, str]] = {
    kind: {name: dist for dist, names in provided.items() for name in names.split()}
    for kind, provided in {
        "tags": {
            "torchon-torch": "Trainer Evaluator torch",
            "torchon-search": "Search Experiment grid g choice uniform loguniform randint",
            "torchon-script": "Script",
            "torchon-export": "Exporter Builder",
        },
        "executors": {"torchon-search": "local", "torchon-ray": "ray"},
        "hookspecs": {  # hooks a plugin adds (torchon_add_hookspecs)
            "torchon-search": "torchon_register_executors torchon_trial_started torchon_trial_reported "
            "torchon_trial_finished"
        },
        "storage": {"torchon-s3": "s3", "torchon-mlflow": "mlflow models runs"},
        "savers": {"torchon-numpy": "npy joblib"},
        "values": {
            "torchon-numpy": "numpy:ndarray",
            "torchon-torch": "torch:Tensor",
        },  # state values their savers take
        "resolvers": {"torchon-extensions": "git pypi editable"},
        "hookimpls": {"torchon-overrides": "torchon_apply_overrides"},  # kernel hooks a plugin implements
        "commands": {
            "torchon-export": "serve inspect",
            "torchon-ray": "submit",
            "torchon-extensions": "new",
            "torchon-search": "report",
            "torchon-history": "runs compare",
        },
    }.items()
}


def first_party(kind: str, name: str) -> str | None:
    """The distribution of torchon's that registers ``name`` among ``kind`` (``tags``, ``executors``, ...)."""
    return FIRST_PARTY.get(kind, {}).get(name)
