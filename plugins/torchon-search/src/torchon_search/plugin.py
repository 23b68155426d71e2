"""Entry module of the torchon-search plugin: names only; Optuna and the rest are imported when a config uses them."""

from __future__ import annotations

from torchon.hookspecs import hookimpl
from torchon.registry import ExecutorRegistry, TagRegistry

_SPACE = "torchon_search.space"


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    tags.add("Search", "torchon_search.search:Search", help="search a runnable's hyperparameters (Optuna)")
    tags.add("Experiment", "torchon_search.experiment:Experiment", help="stages with search, reduce, resume")
    tags.add_value("grid", f"{_SPACE}:grid", aliases=["g"], help="search space: every value in turn")
    tags.add_value("choice", f"{_SPACE}:choice", help="search space: one of the values")
    tags.add_value("uniform", f"{_SPACE}:uniform", help="search space: a float in [lo, hi]")
    tags.add_value("loguniform", f"{_SPACE}:loguniform", help="search space: a float in [lo, hi], log scale")
    tags.add_value("randint", f"{_SPACE}:randint", help="search space: an integer lo <= n <= hi")


@hookimpl
def torchon_register_executors(executors: ExecutorRegistry) -> None:
    executors.add("local", "torchon_search.local:LocalExecutor", help="trials in local worker processes")
