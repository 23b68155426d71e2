"""docs/s3.md's example runs as written (``# file: NAME`` blocks are written out, the others run in order)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_s3_example_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TORCHON_", "AWS_"))}
    env["PYTHONPATH"] = str(tmp_path)
    outputs = []
    for code in re.findall(r"```python\n(.*?)```", (DOCS / "s3.md").read_text(), flags=re.S):
        first = code.splitlines()[0]
        if first.startswith("# file: "):
            (tmp_path / first[len("# file: ") :].strip()).write_text(code)
            continue
        if "torchon.save(model" in code:
            continue  # the two-line sketch at the top
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, f"s3.md example failed:\n{code}\n{proc.stderr}"
        outputs.append(proc.stdout)
    assert outputs == ["[0. 1. 2. 3.]\n"]
