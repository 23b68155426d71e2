"""Entry module of the torchon-search plugin: names only; Optuna and the rest are imported when a config uses them."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from torchon.api import CommandRegistry, PluginManager, TagRegistry, hookimpl
from torchon_search import hookspecs
from torchon_search.hookspecs import ExecutorRegistry

_SPACE = "torchon_search.space"


@hookimpl
def torchon_add_hookspecs(manager: PluginManager) -> None:
    """The executors table and the trial hooks are torchon-search's: they exist when it is loaded."""
    manager.add_hookspecs(hookspecs)


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


@hookimpl
def torchon_register_commands(commands: CommandRegistry) -> None:
    commands.add(
        "report",
        "torchon_search.report_cmd:ReportCommand",
        help="write a search's or an experiment's report.html again from its run folder",
    )


@hookimpl
def torchon_add_options(command: str, parser: argparse.ArgumentParser) -> None:
    if command == "run":
        parser.add_argument(
            "--executor",
            metavar="NAME",
            help="run the trials of searches and experiments with executor NAME (local, or one a plugin adds, such "
            "as ray), whatever executor: the config gives",
        )


@hookimpl
def torchon_apply_options(command: str, args: argparse.Namespace) -> Mapping[str, Any] | None:
    """``--executor NAME`` must name a registered executor; it then goes into the run's environment."""
    executor = getattr(args, "executor", None) if command == "run" else None
    if executor is None:
        return None
    from torchon.api import FIRST_PARTY, UsageError, did_you_mean, first_party, get_manager

    known = get_manager().table("executors")
    if executor not in known:
        dist = first_party("executors", executor)
        others = [
            f"{d} adds {n}" for n, d in FIRST_PARTY["executors"].items() if n not in known and n != executor
        ]
        raise UsageError(
            f"--executor {executor!r} is not registered{did_you_mean(executor, known.names())}; known executors: "
            f"{', '.join(known.names()) or 'none'}"
            + (f"; install {dist} (pip install {dist})" if dist else "")
            + (f" (plugins add more: {', '.join(others)})" if others and not dist else "")
        )
    return {"executor": executor}
