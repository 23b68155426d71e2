"""Whether a run is tracked in MLflow, and how: read from the environment and the command line. Imports no mlflow.

A run is tracked when ``torchon run --track mlflow`` asks for it, or when ``TORCHON_TRACKING=mlflow`` is set
(``--track none`` turns that off for one run). The server is MLflow's own setting, ``MLFLOW_TRACKING_URI``
(unset: MLflow's default local store), and so is the experiment, ``MLFLOW_EXPERIMENT_NAME`` or
``MLFLOW_EXPERIMENT_ID`` (unset: MLflow's ``Default``). torchon's own settings say how long it waits for MLflow.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["TRACKERS", "TRACKING_ENV", "Settings", "requested", "wanted"]

TRACKING_ENV = "TORCHON_TRACKING"
TRACKERS = ("mlflow", "none")


def requested(option: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """``"mlflow"``, ``"none"`` or None (nothing said) from ``--track`` or, without it, ``TORCHON_TRACKING``;
    a ``UsageError`` for any other value."""
    env = os.environ if environ is None else environ
    value, where = (option, "--track") if option is not None else (env.get(TRACKING_ENV), TRACKING_ENV)
    if value is None or value.strip() == "":
        return None
    choice = value.strip().lower()
    if choice not in TRACKERS:
        from torchon.api import UsageError, did_you_mean

        raise UsageError(
            f"{where} {value!r} is not a tracker torchon knows{did_you_mean(choice, TRACKERS)}; write "
            f"{where}{' ' if where == '--track' else '='}mlflow (torchon-mlflow), or none"
        )
    return choice


def wanted(extra: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> bool:
    """Whether the run whose environment holds ``extra`` is tracked: what ``--track`` put there, else
    ``TORCHON_TRACKING`` (for runs started from Python, without the command line)."""
    said = extra.get("track")
    if said is not None:
        return str(said) == "mlflow"
    try:
        return requested(None, environ) == "mlflow"
    except Exception:  # a bad TORCHON_TRACKING outside the command line: not tracked, and said so there
        return False


@dataclass(frozen=True)
class Settings:
    """How torchon talks to MLflow. Each field can be set with ``TORCHON_MLFLOW_<FIELD>`` in the environment.

    :ivar timeout: seconds the end of a run waits for MLflow to take what is left (then it gives up, says so
        once, and the run ends as it would have); also the limit of the check at start.
    :ivar interval: seconds between two batches sent while a run goes on (what was reported meanwhile goes in
        one request).
    """

    timeout: float = 30.0
    interval: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, float] = {}
        for f in fields(cls):
            name = f"TORCHON_MLFLOW_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[f.name] = float(raw)
            except ValueError:
                from torchon.api import UsageError

                raise UsageError(f"{name}={raw!r} is not a number of seconds") from None
            if values[f.name] < 0:
                from torchon.api import UsageError

                raise UsageError(f"{name}={raw!r} must not be negative")
        return cls(**values)
