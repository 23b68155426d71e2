"""Command-line overrides (``torchon run CONFIG PATH=VALUE +PATH=VALUE ~PATH``), ``--check`` and ``--print-config``,
on a local extension whose objects record that they were built and what they were given."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchon.api import ConfigError, load_config

EXTENSION = """
from pathlib import Path

import torchon


class Part(torchon.Component):
    def __init__(self, size: int = 1, kind: str = "a", link: object = None) -> None:
        Path("built").touch()  # nothing may be built when an override is wrong
        self.size, self.kind, self.link = size, kind, link


class Job(torchon.Runnable):
    def __init__(
        self,
        part: Part,
        parts: list[Part] | None = None,
        lr: float = 0.1,
        name: str = "job",
        options: dict[str, int] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        Path("built").touch()
        self.part, self.parts, self.lr, self.name = part, parts or [], lr, name
        self.options, self.tags = options or {}, tags or []

    def run(self) -> None:
        values = {
            "lr": self.lr, "name": self.name, "options": self.options, "tags": self.tags,
            "part": [self.part.size, self.part.kind], "sizes": [p.size for p in self.parts],
            "shared": [p is self.part for p in self.parts],
        }
        Path(torchon.get_env().output_dir, "values.json").write_text(json.dumps(values))
"""

CONFIG = """\
ext: ./ext.py
---
!ext.Job
part: !ext.Part {size: &size 4, kind: b}
parts:
  - !ext.Part {size: 1}
  - !ext.Part {size: *size}
lr: 0.1
name: first
options: {width: *size, depth: 2}
tags: [x, y]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # the objects mark that they were built in the working folder
    (tmp_path / "ext.py").write_text("import json\n" + EXTENSION)
    (tmp_path / "job.yaml").write_text(CONFIG)
    yield tmp_path
    sys.modules.pop("ext", None)  # each test's extension is its own


def built(project: Path, *overrides: str) -> object:
    return load_config(project / "job.yaml", overrides=overrides).build().root


def test_each_form_changes_the_built_objects(project: Path) -> None:
    job = built(
        project,
        "lr=0.003",
        "parts[0].size=7",
        "part.kind=c",
        "+parts[2]=!ext.Part {size: 9}",
        "~tags",
        "+part.link=!@ parts[0]",
        "name='0.5'",  # YAML quoting: the string 0.5
        "options={a: 1}",
    )
    assert job.lr == 0.003 and isinstance(job.lr, float)
    assert [p.size for p in job.parts] == [7, 4, 9]
    assert (job.part.size, job.part.kind) == (4, "c")
    assert job.tags == []  # removed: the default
    assert job.part.link is job.parts[0]  # a link given on the command line
    assert job.name == "0.5"
    assert job.options == {"a": 1}


def test_replacing_an_anchors_value_replaces_every_alias(project: Path) -> None:
    job = built(project, "part.size=6")
    assert job.part.size == 6
    assert job.parts[1].size == 6  # *size
    assert job.options == {"width": 6, "depth": 2}  # *size
    # an alias replaced by itself changes only that place
    job = built(project, "options.width=3")
    assert (job.part.size, job.parts[1].size, job.options["width"]) == (4, 4, 3)


def test_a_tag_without_arguments_gains_keywords_and_removed_items_close_up(project: Path) -> None:
    (project / "bare.yaml").write_text(
        "ext: ./ext.py\n---\n!ext.Job\npart: !ext.Part\nparts: [!ext.Part {size: 1}, !ext.Part {size: 2}]\n"
    )
    job = load_config(project / "bare.yaml", overrides=["+part.size=5", "~parts[0]"]).build().root
    assert job.part.size == 5
    assert [p.size for p in job.parts] == [2]


def test_the_config_as_run_is_the_tree_the_overrides_made(project: Path) -> None:
    config = load_config(project / "job.yaml", overrides=["part.size=6", "~tags"])
    text = config.as_run()
    assert text.startswith("# ") and "#   part.size=6\n#   ~tags\n" in text
    (project / "as_run.yaml").write_text(text)
    again = load_config(project / "as_run.yaml").build().root  # the written config runs as the overrides did
    assert (again.part.size, again.parts[1].size, again.options["width"], again.tags) == (6, 6, 6, [])
    assert load_config(project / "job.yaml").as_run() == CONFIG  # without overrides: the file itself


def torchon(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torchon", "-p", "overrides", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_run_records_the_overrides_and_the_config_as_run(project: Path) -> None:
    proc = torchon(
        "run", "job.yaml", "lr=0.5", "-o", "out", "+parts[0].kind=z", cwd=project
    )  # options between
    assert proc.returncode == 0, proc.stderr
    out = project / "out"
    assert json.loads((out / "values.json").read_text())["lr"] == 0.5
    record = json.loads((out / "run.json").read_text())
    lock = json.loads((out / "torchon.lock").read_text())
    assert record["overrides"] == lock["overrides"] == ["lr=0.5", "+parts[0].kind=z"]
    import blake3

    as_run = (out / "config.yaml").read_text()
    assert "lr: 0.5" in as_run and "kind: z" in as_run
    assert lock["config-digest"] == blake3.blake3(as_run.encode()).hexdigest()


def test_resume_with_other_overrides_is_refused_and_shows_the_difference(project: Path) -> None:
    assert torchon("run", "job.yaml", "lr=0.5", "-o", "out", cwd=project).returncode == 0
    before = (project / "out" / "run.json").read_text()
    proc = torchon("run", "job.yaml", "lr=0.25", "-o", "out", "--resume", cwd=project)
    assert proc.returncode == 2
    assert "ran with other overrides" in proc.stderr and "Traceback" not in proc.stderr
    assert "that run:     lr=0.5" in proc.stderr and "this command: lr=0.25" in proc.stderr
    assert "-lr: 0.5" in proc.stderr and "+lr: 0.25" in proc.stderr  # the configs' difference
    assert (project / "out" / "run.json").read_text() == before  # nothing touched
    # the same overrides resume; --force starts over with new ones
    assert torchon("run", "job.yaml", "lr=0.5", "-o", "out", "--resume", cwd=project).returncode == 0
    proc = torchon("run", "job.yaml", "lr=0.25", "-o", "out", "--force", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((project / "out" / "values.json").read_text())["lr"] == 0.25


def test_overrides_work_with_locked(project: Path) -> None:
    assert torchon("run", "job.yaml", "lr=0.5", "-o", "o1", cwd=project).returncode == 0
    proc = torchon("run", "job.yaml", "--locked", "o1/torchon.lock", "lr=0.25", "-o", "o2", cwd=project)
    # the lock replays the installation; the overrides are this run's
    assert proc.returncode == 0, proc.stderr
    assert json.loads((project / "o2" / "values.json").read_text())["lr"] == 0.25
    proc = torchon("run", "job.yaml", "--locked", "o1/torchon.lock", "lr=0.25", "--check", cwd=project)
    assert proc.returncode == 0 and "ok (with 1 override(s))" in proc.stdout


def test_check_and_print_config_build_nothing(project: Path) -> None:
    proc = torchon("run", "job.yaml", "--check", "lr=0.2", cwd=project)
    assert proc.returncode == 0 and "job.yaml: ok (with 1 override(s))" in proc.stdout, proc.stderr
    proc = torchon("run", "job.yaml", "part.size=6", "--print-config", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        "# job.yaml with the command line's overrides:\n#   part.size=6\next: ./ext.py\n---\n"
    )
    assert "size: 6, kind: b" in proc.stdout and "{size: 6}" in proc.stdout and "width: 6" in proc.stdout
    assert not (project / "built").exists() and not (project / "runs").exists()
    proc = torchon("run", "job.yaml", "--print-config", cwd=project)
    assert proc.stdout == CONFIG


# Each bad override: (overrides, the error's position, words of its message, words of its fix).
BAD = [
    (["nam=x"], "1:1", "nam: no such key (did you mean name?)", "+nam=VALUE"),
    (["parts[5].size=1"], "1:6", "parts[5]: no such item (parts has 2)", "index from 0 to 1"),
    (["lr=[1,"], "1:6", "invalid YAML", "single quotes"),
    (["lr=0.2", "name=[a,", "tags=[b]"], "2:8", "invalid YAML", "single quotes"),
    (["name={a: 1"], "1:10", "invalid YAML", "single quotes"),
    (["part=!Nope {}"], "1:6", "!Nope is not a known tag", "registered tag"),
    (["lr=abc"], "1:4", "argument 'lr' of !ext.Job expects float, got str 'abc'", "type float"),
    (["+part.link=!@ nothing.here"], "1:12", "nothing named 'nothing' is in scope", "enclosing mapping"),
    (["part.link=!@ parts"], "1:6", "part.link: no such key", "+part.link=VALUE"),
    (["~part"], "1:1", "missing required argument(s): part", "part: ..."),
    (["+lr=0.2"], "1:1", "lr is already in the config", "lr=VALUE (no +)"),
    (["~nope"], "1:2", "nope: no such key", "keys of"),
    (["lr"], "1:1", "'lr' is not an override: it has no '='", "PATH=VALUE"),
    (["part..size=1"], "1:6", "expected a key name after '.'", "[key]"),
    (["part[0]=1"], "1:5", "written with keyword arguments", "part.NAME: size, kind"),
    (["lr.x=1"], "1:4", "lr is a value (0.1), which has no keys or items", "lr=VALUE"),
    (["lr=0.2", "part.size.x=2"], "2:11", "part.size is a value (4)", "part.size=VALUE"),
    (
        ["+part.colour=red"],
        "1:7",
        "!ext.Part has no argument 'colour'",
        "its arguments are: size, kind, link",
    ),
    (["~lr=3"], "1:4", "a removal (~PATH) takes no value", "~PATH alone"),
    (["part=5"], "1:6", "argument 'part' of !ext.Job expects Part, got int 5", "type Part"),
    (["parts=5"], "1:7", "argument 'parts' of !ext.Job expects", "type"),
]


@pytest.mark.parametrize(("overrides", "where", "what", "fix"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_a_bad_override_is_an_error_at_the_command_line(
    project: Path, overrides: list[str], where: str, what: str, fix: str
) -> None:
    proc = torchon("run", "job.yaml", *overrides, cwd=project)
    first = proc.stderr.splitlines()[0] if proc.stderr else ""
    assert proc.returncode == 2, proc.stderr
    assert first.startswith(f"<command line>:{where}: error: "), proc.stderr
    assert what in first
    line = int(where.split(":")[0])
    assert f"    {line} | {overrides[line - 1]}" in proc.stderr  # the override itself, with a caret under it
    assert "  fix: " in proc.stderr and fix in proc.stderr.split("  fix: ", 1)[1]
    assert "Traceback" not in proc.stderr
    assert not (project / "built").exists() and not (project / "runs").exists()  # nothing built or written


def test_an_override_error_is_raised_from_load_config_with_its_mark(project: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(project / "job.yaml", overrides=["lr=0.2", "parts[0].sise=3"])
    assert str(info.value.mark) == "<command line>:2:10"
    assert "no such key (did you mean size?)" in info.value.what
    assert info.value.source_line == "parts[0].sise=3"
