"""torchon-mlflow's tests: make the helper module importable (pytest runs with --import-mode=importlib)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mlflow_helpers import client, experiment_name, mlflow_env, mlflow_server  # noqa: F401  (fixtures)
