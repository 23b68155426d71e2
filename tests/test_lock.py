"""torchon.lock: written by every run, read back (versioned), and replayed with --locked or refused saying what
differs."""

from __future__ import annotations

import json
import sys
import types
from importlib.metadata import version
from pathlib import Path

import pytest

from torchon import hookimpl
from torchon.config import ConfigError, load_config
from torchon.lock import LOCK_VERSION, Lock, LockError, used_classes
from torchon.plugins import PluginManager, set_manager
from torchon.registry import TagRegistry
from torchon.runner import run_config

EXT = """\
import torchon


class Job(torchon.Runnable):
    def __init__(self, thing: object = None, other: object = None) -> None:
        self.thing = thing

    def run(self) -> None:
        pass
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A local extension ``lockext`` and a plugin registering an installed library's module as a namespace."""
    (tmp_path / "lockext.py").write_text(EXT)
    (tmp_path / "exp.yaml").write_text(
        "lockext: ./lockext.py\n---\n!lockext.Job\nthing: !packaging.version.Version ['1.0']\n"
        "other: !lockext.Job {}\n"
    )
    plugin = types.ModuleType("nsplug")

    @hookimpl
    def torchon_register_tags(tags: TagRegistry) -> None:
        tags.add_namespace("packaging.version", "packaging.version")

    plugin.torchon_register_tags = torchon_register_tags  # type: ignore[attr-defined]
    manager = PluginManager.from_options(autoload=False)
    manager.register(plugin, "nsplug")
    set_manager(manager)
    yield tmp_path
    sys.modules.pop("lockext", None)


def test_the_lock_lists_extensions_and_where_each_used_class_comes_from(project: Path) -> None:
    config = load_config(project / "exp.yaml")
    lock = Lock.from_config(config)
    assert lock.extensions["lockext"]["kind"] == "local"
    assert lock.extensions["lockext"]["path"] == str((project / "lockext.py").resolve())
    assert lock.classes == {
        "!lockext.Job": {"target": "lockext:Job", "extension": "lockext"},
        "!packaging.version.Version": {
            "target": "packaging.version:Version",
            "distribution": "packaging",
            "version": version("packaging"),
        },
    }
    assert lock.distributions == {"packaging": version("packaging")}
    assert used_classes(config.root) == {k: v for k, v in lock.classes.items() if "extension" not in v} | {
        "!lockext.Job": {"target": "lockext:Job"}
    }


def test_every_run_writes_the_lock_and_it_reads_back(project: Path) -> None:
    assert run_config(project / "exp.yaml", output=str(project / "out")) == 0
    data = json.loads((project / "out" / "torchon.lock").read_text())
    assert data["lock-version"] == LOCK_VERSION and data["config"].endswith("exp.yaml")
    assert set(data) == {
        "lock-version",
        "torchon",
        "python",
        "config",
        "overrides",
        "config-digest",
        "extensions",
        "classes",
        "distributions",
    }
    assert data["overrides"] == [] and len(data["config-digest"]) == 64
    lock = Lock.read(project / "out")  # a run folder, or the file itself
    assert lock.to_dict() == data and lock.source == str(project / "out" / "torchon.lock")


def test_locked_replays_a_matching_lock_and_refuses_a_different_installation(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_config(project / "exp.yaml", output=str(project / "o1")) == 0
    lock_file = project / "o1" / "torchon.lock"
    assert run_config(project / "exp.yaml", output=str(project / "o2"), locked=lock_file) == 0
    data = json.loads(lock_file.read_text())
    data["distributions"]["packaging"] = "0.0.1"
    data["distributions"]["nothere-dist"] = "1.0"
    lock_file.write_text(json.dumps(data))
    assert run_config(project / "exp.yaml", output=str(project / "o3"), locked=lock_file) == 2
    err = capsys.readouterr().err
    assert f"exp.yaml:1:1: error: what is installed differs from the lock {lock_file}" in err
    assert f"packaging: {version('packaging')}, the lock has 0.0.1" in err
    assert "nothere-dist: not installed, the lock has 1.0" in err
    assert "fix: install the versions the lock lists" in err
    assert not (project / "o3").exists()


def test_locked_refuses_a_header_that_differs_from_the_lock(project: Path) -> None:
    lock = Lock(extensions={"lockext": {"kind": "local", "spec": "./elsewhere.py"}, "gone": {"kind": "pypi"}})
    with pytest.raises(ConfigError) as info:
        load_config(project / "exp.yaml", locked=lock)
    assert info.value.mark is not None and info.value.mark.line == 1
    assert "the config says './lockext.py' (local), the lock" in info.value.what
    lock.extensions["lockext"]["spec"] = "./lockext.py"
    with pytest.raises(ConfigError, match="pins extension\\(s\\) gone, which the config does not declare"):
        load_config(project / "exp.yaml", locked=lock)
    del lock.extensions["lockext"]
    with pytest.raises(ConfigError, match="extension 'lockext' is not in the lock"):
        load_config(project / "exp.yaml", locked=Lock(source="L"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "cannot be read as JSON"),
        ('{"extensions": {}}', "is not a torchon lock"),
        ('{"lock-version": 99}', "has lock-version 99; this torchon"),
        ('{"lock-version": 1, "extensions": []}', "'extensions' must be a mapping"),
    ],
)
def test_bad_lock_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "torchon.lock"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LockError, match=message):
        Lock.read(path)


def test_run_with_a_bad_lock_file_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_config(project / "exp.yaml", output=str(project / "o"), locked=project / "nope.lock") == 2
    assert "torchon: error: lock file" in capsys.readouterr().err
