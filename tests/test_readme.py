"""README's Quickstart has exactly two commands, and CI runs the second one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.strip().splitlines() if line.strip()]


def test_quickstart_has_two_commands_install_and_run_then_install_and_test() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    assert "pip install" in commands[0] and "torchon run examples/" in commands[0]
    assert "pip install" in commands[1] and "pytest" in commands[1]
    example = commands[0].split("torchon run ", 1)[1].split()[0]
    assert (REPO / example).is_file()


def test_ci_runs_the_readme_test_command() -> None:
    assert quickstart_commands()[1] in (REPO / ".ci" / "run").read_text()
