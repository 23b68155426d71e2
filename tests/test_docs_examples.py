"""The Python examples of the docs run as written: blocks starting ``# file: NAME`` are written out, the others
run in order in one folder, each in a fresh interpreter, with the installed plugins loaded as a user's are.
saving.md's examples save numpy arrays and use joblib: they need torchon-numpy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torchon_numpy")

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = ["saving.md"]


def blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


@pytest.mark.parametrize("page", PAGES)
def test_examples_run(page: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TORCHON_DISABLE_PLUGIN_AUTOLOAD"}
    env["PYTHONPATH"] = str(tmp_path)
    outputs = []
    for code in blocks(page):
        first = code.splitlines()[0]
        if first.startswith("# file: "):
            (tmp_path / first[len("# file: ") :].strip()).write_text(code)
            continue
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, f"{page} example failed:\n{code}\n{proc.stderr}"
        outputs.append(proc.stdout)
    assert outputs, f"{page} has no runnable examples"
    if page == "saving.md":
        assert "classes defined in the script being run (module __main__)" in outputs[-1]
        assert "state/n0/npy/0.npy does not match its blake3 digest (altered)" in outputs[-1]
