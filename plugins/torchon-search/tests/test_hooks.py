"""torchon-search's hooks (``torchon_register_executors`` and the trial hooks), added to torchon's as it loads: they
reach plugins as the kernel's hooks did, whichever plugin loads first, and a plugin implementing them without
torchon-search loaded is told which distribution adds them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from search_helpers import cli_env, write_config

from torchon.api import PluginManager, hookimpl, set_manager
from torchon_search import hooks, hookspecs


class Probe:
    """A plugin that records what it is told of trials (and, with ``fail``, raises in every hook)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.events: list[tuple[Any, ...]] = []

    @hookimpl
    def torchon_trial_started(self, trial: hooks.TrialInfo) -> None:
        self.events.append(("started", trial.number))
        if self.fail:
            raise RuntimeError("the probe breaks")

    @hookimpl
    def torchon_trial_finished(self, trial: hooks.TrialInfo) -> None:
        self.events.append(("finished", trial.number, trial.status))
        if self.fail:
            raise RuntimeError("the probe breaks")


@pytest.fixture
def manager() -> Iterator[PluginManager]:
    manager = PluginManager.from_options(["search"], autoload=False)
    previous = set_manager(manager)
    yield manager
    set_manager(previous)


def test_trial_hooks_reach_plugins_through_torchon_search_hooks(
    manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    broken, probe = Probe(fail=True), Probe()
    manager.register(broken, "broken_probe")
    manager.register(probe, "probe")
    manager.check_pending()
    assert not manager.failed(), [p.error for p in manager.failed()]
    trial = hooks.TrialInfo(7, "abc", {"lr": 0.1}, Path("trials/abc"), metric="loss")
    hooks.trial_started(trial)
    hooks.trial_reported(trial, 1, {"loss": 0.5})  # no plugin implements it: nothing happens
    trial.status = "completed"
    hooks.trial_finished(trial)
    assert probe.events == broken.events == [("started", 7), ("finished", 7, "completed")]
    failures = [r.getMessage() for r in caplog.records if "plugin 'broken_probe' failed in" in r.getMessage()]
    assert len(failures) == 2 and "torchon_trial_finished" in failures[1]


def test_every_hook_torchon_search_adds_is_documented_in_plugins_md() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "plugins.md").read_text(encoding="utf-8")
    added = [name for name in vars(hookspecs) if name.startswith("torchon_")]
    assert len(added) == 4 and all(f"\n### {name}\n" in text for name in added)
    executors = text.split("\n### torchon_register_executors\n")[1].split("\n### ")[0]
    assert "executors.add(" in executors and "torchon_add_hookspecs" in executors


def test_the_local_executor_is_registered_in_the_table_torchon_search_adds(manager: PluginManager) -> None:
    entry = manager.table("executors").get("local")
    assert (
        entry is not None
        and entry.plugin == "search"
        and entry.target == "torchon_search.local:LocalExecutor"
    )
    assert manager.plugins["search"].registered["executors"] == ["local"]


EARLY = """
    import json, os
    from torchon import hookimpl

    @hookimpl
    def torchon_register_executors(executors):
        executors.add("inline", "torchon_search.local:LocalExecutor", help="the local executor, again")

    @hookimpl
    def torchon_trial_finished(trial):
        with open(os.environ["PROBE_FILE"], "a") as f:
            f.write(json.dumps([trial.number, trial.status, dict(trial.params)]) + "\\n")
"""

SEARCH = """
!Search
trial: !toy.Train
  model: !toy.Model {width: 2}
  lr: !grid [0.01, 0.05]
  epochs: 1
metric: loss
max_concurrent: 2
"""


def _torchon(site: Path, *args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torchon", *map(str, args)],
        cwd=cwd,
        env=cli_env(PYTHONPATH=str(site), **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_plugin_loaded_before_torchon_search_registers_executors_and_hears_trials(tmp_path: Path) -> None:
    """Plain ``@hookimpl`` (no ``optionalhook``), found before torchon-search: it works as it did."""
    site = tmp_path / "site"
    info = site / "aaa_probe-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: aaa-probe\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[torchon]\naaa = aaa_probe_mod\n")
    (site / "aaa_probe_mod.py").write_text(textwrap.dedent(EARLY))

    listing = _torchon(site, "plugins", cwd=tmp_path)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    lines = listing.stdout.splitlines()
    assert [line.split()[0] for line in lines].index("aaa") < [line.split()[0] for line in lines].index(
        "search"
    )
    assert next(line for line in lines if line.startswith("aaa ")).endswith(
        "executors: inline; hooks: trial_finished"
    )

    probe = tmp_path / "trials.jsonl"
    config = write_config(tmp_path, SEARCH)
    run = _torchon(
        site,
        "run",
        config,
        "-o",
        tmp_path / "out",
        "--executor",
        "inline",
        cwd=tmp_path,
        PROBE_FILE=str(probe),
    )
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "out" / "run.json").read_text())["executor"] == "inline"
    told = sorted(json.loads(line) for line in probe.read_text().splitlines())
    assert [(status, params["lr"]) for _, status, params in told] == [
        ("completed", 0.01),
        ("completed", 0.05),
    ]

    alone = _torchon(site, "plugins", cwd=tmp_path, TORCHON_DENY_PLUGINS="search")
    assert alone.returncode == 1
    failed = next(line for line in alone.stdout.splitlines() if line.startswith("FAILED aaa "))
    assert "unknown hook 'torchon_register_executors'" in failed
    assert failed.endswith("torchon-search adds this hook: pip install torchon-search")
