"""What torchon-search tells plugins of a run's trials (the hooks of :mod:`torchon_search.hookspecs`): the
driver calls :func:`trial_started`, :func:`trial_reported` and :func:`trial_finished` in the run's process,
whatever the executor. A plugin whose hook raises is logged and the others are still called
(``PluginManager.notify``): what a plugin does with a trial (track it in MLflow) never changes how the search goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchon.api import get_manager

__all__ = ["TrialInfo", "trial_finished", "trial_reported", "trial_started"]


@dataclass
class TrialInfo:
    """A trial of a search, or a variant of an experiment's stage, as the trial hooks see it."""

    number: int  # unique across the run's stages
    key: str  # the hash naming the trial's variant (its folder's name)
    params: Mapping[str, Any]  # the values chosen for the search space, by name (as results.csv names them)
    folder: Path
    stage: str | None = None  # the experiment's stage it belongs to; None for a trial of a !Search
    metric: str | None = None  # the metric the search ranks trials by (None: none), in this mode: min or max
    mode: str = "min"
    status: str = "running"  # then completed, pruned or failed
    value: float | None = None  # its value of metric, once finished
    metrics: Mapping[str, float] = field(default_factory=dict)  # its last value of each metric
    steps: int = 0
    error: str | None = None  # why it failed
    cached: bool = False  # kept from an earlier run


def trial_started(trial: TrialInfo) -> None:
    get_manager().notify("torchon_trial_started", trial=trial)


def trial_reported(trial: TrialInfo, step: int, metrics: Mapping[str, float]) -> None:
    get_manager().notify("torchon_trial_reported", trial=trial, step=step, metrics=metrics)


def trial_finished(trial: TrialInfo) -> None:
    get_manager().notify("torchon_trial_finished", trial=trial)
