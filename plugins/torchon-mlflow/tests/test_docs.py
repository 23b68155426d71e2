"""docs/mlflow.md's example runs as written against a real MLflow server (``# file: NAME`` blocks are written out,
the others run in order)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_the_mlflow_example_runs(tmp_path: Path, mlflow_env: dict[str, str]) -> None:
    env = {**mlflow_env, "PYTHONPATH": str(tmp_path)}
    outputs = []
    text = (DOCS / "mlflow.md").read_text(encoding="utf-8")
    for code in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        first = code.splitlines()[0]
        if first.startswith("# file: "):
            (tmp_path / first[len("# file: ") :].strip()).write_text(code)
            continue
        if "model_config=" in code:
            continue  # the two-line sketch of model_config: models that are not there
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"mlflow.md example failed:\n{code}\n{proc.stderr}"
        outputs.append(proc.stdout)
    assert outputs == ["[[4.0, 6.0, 8.0]]\n[[4.0, 6.0, 8.0]]\n"]
