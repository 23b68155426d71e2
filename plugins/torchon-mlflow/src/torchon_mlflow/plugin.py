"""Entry module of the torchon-mlflow plugin: names and cheap checks only. mlflow is imported when a run is
tracked (``--track mlflow`` or ``TORCHON_TRACKING=mlflow``) or an ``mlflow://``, ``models:/`` or ``runs:/`` URI
is used."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torchon.api import StorageRegistry, hookimpl

if TYPE_CHECKING:
    from torchon.api import RunInfo
    from torchon_search.hooks import TrialInfo

_STORAGE = "torchon_mlflow.storage:MlflowStorage"


@hookimpl
def torchon_register_storage(storage: StorageRegistry) -> None:
    storage.add("mlflow", _STORAGE, help="bundles as MLflow registered models: mlflow://NAME[@ALIAS]")
    storage.add("models", _STORAGE, help="MLflow's model registry: models:/NAME/VERSION, models:/NAME@ALIAS")
    storage.add("runs", _STORAGE, help="an MLflow run's artifacts: runs:/RUN_ID/PATH")


@hookimpl
def torchon_add_options(command: str, parser: argparse.ArgumentParser) -> None:
    if command == "run":
        parser.add_argument(
            "--track",
            metavar="TRACKER",
            help="track the run in MLflow: --track mlflow (the server is MLFLOW_TRACKING_URI, the experiment "
            "MLFLOW_EXPERIMENT_NAME); --track none for no tracking whatever TORCHON_TRACKING says",
        )


@hookimpl
def torchon_apply_options(command: str, args: argparse.Namespace) -> Mapping[str, Any] | None:
    """``--track mlflow`` (or ``TORCHON_TRACKING=mlflow``): the tracking server must answer now, before anything
    is written; the choice then goes into the run's environment and ``run.json``."""
    if command != "run":
        return None
    from torchon_mlflow.settings import Settings, requested

    choice = requested(getattr(args, "track", None))
    if choice is None:
        return None
    if choice == "mlflow":
        from torchon.api import UsageError
        from torchon_mlflow.connect import check_server
        from torchon_mlflow.tracking import tracking_uri

        uri = tracking_uri()
        problem = check_server(uri, Settings.from_env().timeout)
        if problem is not None:
            raise UsageError(
                f"--track mlflow: the MLflow tracking server at {uri} does not answer: {problem}; start it (mlflow "
                "server), set MLFLOW_TRACKING_URI to one that runs, or run without --track"
            )
    return {"track": choice}


@hookimpl
def torchon_run_started(run: RunInfo) -> None:
    from torchon.api import get_env
    from torchon_mlflow.settings import wanted

    if wanted(get_env().extra):
        from torchon_mlflow import tracking

        tracking.start(run)


@hookimpl
def torchon_run_finished(run: RunInfo) -> None:
    _tracking("finish", run)


# The trial hooks are torchon-search's (it adds them when it loads): optional, so this plugin loads without it.


@hookimpl(optionalhook=True)
def torchon_trial_started(trial: TrialInfo) -> None:
    _tracking("trial_event", "started", trial)


@hookimpl(optionalhook=True)
def torchon_trial_reported(trial: TrialInfo, step: int, metrics: Mapping[str, float]) -> None:
    _tracking("trial_event", "reported", trial, step, metrics)


@hookimpl(optionalhook=True)
def torchon_trial_finished(trial: TrialInfo) -> None:
    _tracking("trial_event", "finished", trial)


def _tracking(function: str, *args: Any) -> None:
    """Call ``torchon_mlflow.tracking.<function>`` if a run was tracked in this process (else it is not imported)."""
    import sys

    module = sys.modules.get("torchon_mlflow.tracking")
    if module is not None:
        getattr(module, function)(*args)
