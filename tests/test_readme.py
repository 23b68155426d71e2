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


def layout_paths() -> list[str]:
    section = (REPO / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)


def test_the_layout_table_lists_every_plugin_and_top_level_folder_and_nothing_else() -> None:
    listed = layout_paths()
    for path in listed:
        assert (REPO / path).exists(), f"README's layout lists {path}, which does not exist"
    plugins = {f"plugins/{p.name}/" for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").is_file()}
    assert plugins <= set(listed), f"plugins missing from README's layout: {sorted(plugins - set(listed))}"
    tracked = {p.split("/", 1)[0] for p in _tracked_files() if "/" in p and not p.startswith(".")}
    top = {p.split("/", 1)[0] for p in listed}
    assert tracked - {"plugins", "core"} <= top, (
        f"folders missing from README's layout: {sorted(tracked - top)}"
    )


def _tracked_files() -> list[str]:
    import subprocess

    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode != 0:  # not a git checkout (an sdist): the folders on disk
        return [p.relative_to(REPO).as_posix() for p in REPO.glob("*/*")]
    return out.stdout.splitlines()
