"""The hooks torchon-search adds to torchon (through ``torchon_add_hookspecs``, from its entry module): registering
executors, and hearing what each trial does. Their names and signatures are those the kernel once had, so plugins
implementing them need no change; one that should load without torchon-search marks them
``@hookimpl(optionalhook=True)``, as pytest plugins do for other plugins' hooks. Imported by the entry module:
it imports only what loading plugins has imported already.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from torchon.api import NameRegistry, hookspec

if TYPE_CHECKING:
    from torchon_search.hooks import TrialInfo

__all__ = [
    "ExecutorRegistry",
    "torchon_register_executors",
    "torchon_trial_finished",
    "torchon_trial_reported",
    "torchon_trial_started",
]

# What ``torchon_register_executors`` receives: ``executors.add(name, target)``.
ExecutorRegistry = NameRegistry


# -- Registration: called once per plugin as plugins load, into the table ``executors`` this module adds.


@hookspec
def torchon_register_executors(executors: ExecutorRegistry) -> None:
    """Register executors by name: what runs the trials of a Search or the stages of an Experiment.

    :param executors: ``executors.add("ray", "torchon_ray.executor:RayExecutor")`` for ``executor: ray``.
    """


# -- Lifecycle: what a run's trials are doing. A plugin's failure here is logged and the run goes on.


@hookspec
def torchon_trial_started(trial: TrialInfo) -> None:
    """A trial of a search (or a variant of an experiment's stage) started; ``trial.cached`` if kept from before.

    :param trial: the trial: its number, stage, parameters, folder.
    """


@hookspec
def torchon_trial_reported(trial: TrialInfo, step: int, metrics: Mapping[str, float]) -> None:
    """A trial finished one step and reported ``metrics`` (its latest value of each) for ``step``.

    :param trial: the trial.
    :param step: the step's number, from 1.
    :param metrics: metric name -> value.
    """


@hookspec
def torchon_trial_finished(trial: TrialInfo) -> None:
    """A trial ended: ``trial.status`` is ``completed``, ``pruned`` or ``failed`` (``trial.error`` says why).

    :param trial: the trial, as it ended, ``trial.value`` its value of the search's metric.
    """
