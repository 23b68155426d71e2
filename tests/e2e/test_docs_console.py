"""The ``console`` blocks of the docs run as written: each ``$ torchon ...`` line is run from the repository's
root, and what it prints must be the lines below it, exactly."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torchon_torch")
pytest.importorskip("torchon_search")
pytest.importorskip("sklearn")

REPO = Path(__file__).resolve().parents[2]
PAGES = ["cli.md", "configs.md"]


def examples() -> list[tuple[str, str, str]]:
    found = []
    for page in PAGES:
        for block in re.findall(r"```console\n(.*?)```", (REPO / "docs" / page).read_text(), flags=re.S):
            for command in re.split(r"^(?=\$ )", block, flags=re.M):
                if command.strip():
                    line, _, output = command.partition("\n")
                    found.append((page, line[2:], output))
    return found


EXAMPLES = examples()


def test_the_pages_have_console_examples() -> None:
    assert {page for page, _, _ in EXAMPLES} == set(PAGES)


@pytest.mark.parametrize(("page", "command", "output"), EXAMPLES, ids=[c for _, c, _ in EXAMPLES])
def test_console_example(page: str, command: str, output: str) -> None:
    words = shlex.split(command)
    assert words[0] == "torchon", f"{page}: only torchon commands are run: {command}"
    env = {k: v for k, v in os.environ.items() if k != "TORCHON_DISABLE_PLUGIN_AUTOLOAD"}
    proc = subprocess.run(
        [sys.executable, "-m", "torchon", *words[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout + proc.stderr == output, f"{page}: {command}"
    assert proc.returncode == (2 if "error:" in output else 0)
    assert (
        "--check" in words or "--print-config" in words or proc.returncode == 2
    )  # nothing ran: no runs/ left
