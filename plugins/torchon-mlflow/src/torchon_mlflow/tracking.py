"""A torchon run as an MLflow run: params, metrics by step, tags, artifacts; a search's trials and an
experiment's stages as runs nested under it.

One :class:`Tracker` follows the run of this process, from ``torchon_run_started`` to ``torchon_run_finished``
(:mod:`torchon_mlflow.plugin` calls it). Everything goes through an :class:`~torchon_mlflow.outbox.Outbox`, so the
run's threads never wait for MLflow, and a failing server costs the run nothing but a line in its log.

In MLflow::

    run (the config's name)         params: the config's values; metrics: what the run's process reported;
    │                                tags: torchon.version, torchon.config, git commit; artifacts: the config as
    │                                run, torchon.lock, run.json, results.csv, report.html
    ├── trial-0, trial-1, ...        a !Search's trials: params chosen, metrics by step, torchon.trial.status
    └── STAGE (an !Experiment's)     best_<metric> of its trials
        └── STAGE-0, STAGE-1, ...    its trials
"""

from __future__ import annotations

import getpass
import logging
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torchon
from torchon.api import metrics
from torchon_mlflow.names import config_params
from torchon_mlflow.outbox import Outbox
from torchon_mlflow.settings import Settings

if TYPE_CHECKING:
    from torchon.api import RunInfo
    from torchon_search.hooks import TrialInfo  # the trial hooks are torchon-search's

__all__ = ["ARTIFACTS", "Tracker", "current", "experiment", "finish", "start", "tracking_uri", "trial_event"]

logger = logging.getLogger("torchon.mlflow")

ARTIFACTS = ("config.yaml", "torchon.lock", "run.json", "results.csv", "report.html")
"""Files of the run's folder logged as the MLflow run's artifacts when the run ends (those that exist)."""

_RUN = "run"
_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
_TRIAL_STATUS = {"completed": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}

_trackers: list[Tracker] = []  # the tracked runs going on in this process, innermost last
_lock = threading.Lock()


def current() -> Tracker | None:
    """The tracker of the run going on in this process, if it is tracked."""
    return _trackers[-1] if _trackers else None


def tracking_uri() -> str:
    """Where MLflow tracks: ``MLFLOW_TRACKING_URI``, else MLflow's default."""
    import mlflow

    return str(mlflow.get_tracking_uri())


def experiment() -> tuple[str, str]:
    """``("id", ID)`` from ``MLFLOW_EXPERIMENT_ID``, else ``("name", NAME)`` from ``MLFLOW_EXPERIMENT_NAME``, else
    MLflow's ``Default``: MLflow's own settings, as its fluent API reads them."""
    from mlflow.environment_variables import MLFLOW_EXPERIMENT_ID, MLFLOW_EXPERIMENT_NAME

    name = MLFLOW_EXPERIMENT_NAME.get()
    if name:
        return "name", str(name)
    ident = MLFLOW_EXPERIMENT_ID.get()
    if ident:
        return "id", str(ident)
    return "name", "Default"


class Tracker:
    """The MLflow side of one torchon run."""

    def __init__(self, run: RunInfo, settings: Settings, uri: str) -> None:
        self.run = run
        self.settings = settings
        self.uri = uri
        self.name = Path(run.config.filename).stem if run.config is not None else run.folder.name
        self.outbox = Outbox(
            lambda: _client(uri),
            uri,
            experiment(),
            interval=settings.interval,
            what=f"the run's folder {run.folder}",
        )
        self._last_step = 0  # the step of a report that gives none
        self._stages: dict[str, dict[str, Any]] = {}  # name -> metric, mode, best value, any completed
        self._open_trials: set[str] = set()
        self._remove_listener: Any = None

    # -- the run --------------------------------------------------------------------------------------------

    def start(self) -> None:
        run = self.run
        tags = {
            "torchon.version": torchon.__version__,
            "torchon.config": self.name,
            "torchon.output": str(run.folder.resolve()),
            "mlflow.source.type": "LOCAL",
            "mlflow.source.name": str(run.record.get("config") or self.name),
            "mlflow.user": _user(),
        }
        if run.config is not None:
            tags["torchon.runnable"] = run.config.root.label
        if run.record.get("resume"):
            tags["torchon.resumed"] = "true"
        commit = _git_commit(Path.cwd())
        if commit:
            tags["mlflow.source.git.commit"] = commit
        self.outbox.create(_RUN, parent=None, name=self.name, tags=tags)
        if run.config is not None:
            self.outbox.log(_RUN, params=config_params(run.config.root))
        self._remove_listener = metrics.add_listener(self._reported)
        logger.info("tracking the run in MLflow at %s (experiment %s)", self.uri, self.outbox.experiment[1])

    def _reported(self, step: int | None, values: dict[str, float]) -> None:
        """A metrics listener, in the thread that reported: a step for reports without one, and a queue append."""
        if step is None:
            step = self._last_step
        else:
            self._last_step = step
        self.outbox.metrics(_RUN, step, values)

    def finish(self) -> None:
        """The run ended: end what is still open, log the folder's files, and wait (a bounded time) for MLflow."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        for handle in sorted(self._open_trials):
            self.outbox.log(handle, tags={"torchon.trial.status": "stopped"})
            self.outbox.end(handle, "KILLED")
        self._open_trials.clear()
        for stage, seen in self._stages.items():
            if seen["best"] is not None and seen["metric"]:
                self.outbox.metrics(f"stage:{stage}", 0, {f"best_{seen['metric']}": seen["best"]})
            self.outbox.end(f"stage:{stage}", "FINISHED" if seen["completed"] else "FAILED")
        run = self.run
        tags = {"torchon.status": run.status}
        if run.record.get("error"):
            tags["torchon.error"] = str(run.record["error"])
        self.outbox.log(_RUN, tags=tags)
        self.outbox.artifacts(_RUN, [(run.folder / name, None) for name in ARTIFACTS])
        self.outbox.end(_RUN, _STATUS.get(run.status, "FAILED"))
        if self.outbox.close(self.settings.timeout):
            logger.info("the run is in MLflow at %s", self.uri)

    def run_id(self, timeout: float) -> str | None:
        """The MLflow id of the run (waiting up to ``timeout`` seconds for it to be created), or None."""
        return self.outbox.run_id(_RUN, timeout)

    # -- trials -----------------------------------------------------------------------------------------------

    def _trial_parent(self, trial: TrialInfo) -> str:
        if trial.stage is None:
            return _RUN
        handle = f"stage:{trial.stage}"
        if trial.stage not in self._stages:
            self._stages[trial.stage] = {
                "metric": trial.metric,
                "mode": trial.mode,
                "best": None,
                "completed": 0,
            }
            tags = {"torchon.stage": trial.stage}
            if trial.metric:
                tags.update({"torchon.metric": trial.metric, "torchon.mode": trial.mode})
            self.outbox.create(handle, parent=_RUN, name=trial.stage, tags=tags)
        return handle

    def trial_started(self, trial: TrialInfo) -> None:
        handle = f"trial:{trial.number}"
        parent = self._trial_parent(trial)
        tags = {
            "torchon.trial.number": str(trial.number),
            "torchon.trial.key": trial.key,
            "torchon.trial.status": "running",
            "torchon.trial.folder": str(trial.folder),
        }
        if trial.stage is not None:
            tags["torchon.stage"] = trial.stage
        name = f"{trial.stage or 'trial'}-{trial.number}"
        self.outbox.create(handle, parent=parent, name=name, tags=tags)
        if trial.params:
            self.outbox.log(handle, params=trial.params)
        self._open_trials.add(handle)

    def trial_reported(self, trial: TrialInfo, step: int, values: Mapping[str, float]) -> None:
        self.outbox.metrics(f"trial:{trial.number}", int(step), dict(values))

    def trial_finished(self, trial: TrialInfo) -> None:
        handle = f"trial:{trial.number}"
        if handle not in self._open_trials:
            return
        self._open_trials.discard(handle)
        tags = {
            "torchon.trial.status": "cached" if trial.cached and trial.status == "completed" else trial.status
        }
        if trial.error:
            tags["torchon.error"] = trial.error
        self.outbox.log(handle, tags=tags)
        self.outbox.end(handle, _TRIAL_STATUS.get(trial.status, "FAILED"))
        stage = self._stages.get(trial.stage or "")
        if stage is not None and trial.status == "completed":
            stage["completed"] += 1
            value = trial.value
            if value is not None and not math.isnan(value):
                best = stage["best"]
                if best is None or (value < best if stage["mode"] == "min" else value > best):
                    stage["best"] = value


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _git_commit(folder: Path) -> str | None:
    """The commit checked out where the run was started, with MLflow's own reader (None outside git)."""
    try:
        from mlflow.utils.git_utils import get_git_commit

        commit = get_git_commit(str(folder))
    except Exception:
        return None
    return str(commit) if commit else None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        return os.environ.get("USER", "unknown")


# -- what the plugin's hooks call --------------------------------------------------------------------------------


def start(run: RunInfo) -> None:
    """Track ``run`` in MLflow: this process's tracker until :func:`finish`."""
    tracker = Tracker(run, Settings.from_env(), tracking_uri())
    with _lock:
        _trackers.append(tracker)
    tracker.start()


def finish(run: RunInfo) -> None:
    """``run`` ended: finish its tracker, if it has one."""
    tracker = next((t for t in _trackers if t.run is run), None)
    if tracker is None:
        return
    try:
        tracker.finish()
    finally:
        with _lock:
            _trackers.remove(tracker)


def trial_event(event: str, trial: TrialInfo, *args: Any) -> None:
    """Hand a trial's ``started``, ``reported`` or ``finished`` to the current run's tracker."""
    tracker = current()
    if tracker is not None:
        getattr(tracker, f"trial_{event}")(trial, *args)
