"""The lifecycle hooks (``torchon_run_started``, ``torchon_run_finished``): ``torchon run`` tells plugins when a run
starts and how it ended, metrics reach listeners in between, and a plugin whose hook raises changes nothing about the
run. (The trial hooks are torchon-search's: its tests/test_hooks.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from torchon import metrics, session
from torchon.hookspecs import hookimpl
from torchon.runner import run_config


class Probe:
    """A plugin that records what it is told (and, with ``fail``, raises in every hook)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.events: list[tuple[Any, ...]] = []
        self._remove: Any = None

    def _maybe_fail(self) -> None:
        if self.fail:
            raise RuntimeError("the probe breaks")

    @hookimpl
    def torchon_run_started(self, run: session.RunInfo) -> None:
        files = sorted(p.name for p in run.folder.iterdir() if p.is_file())
        self.events.append(
            ("started", run.status, files, type(run.runnable).__name__, run.config is not None)
        )
        self._remove = metrics.add_listener(lambda step, values: self.events.append(("metric", step, values)))
        self._maybe_fail()

    @hookimpl
    def torchon_run_finished(self, run: session.RunInfo) -> None:
        if self._remove is not None:
            self._remove()
        on_disk = json.loads((run.folder / "run.json").read_text())
        self.events.append(("finished", run.status, run.record["exit_code"], on_disk["status"]))
        self._maybe_fail()


@pytest.fixture
def probes(corpus_manager: Any) -> tuple[Probe, Probe]:
    broken, probe = Probe(fail=True), Probe()
    corpus_manager.register(broken, "broken_probe")
    corpus_manager.register(probe, "probe")
    return broken, probe


def _config(tmp_path: Path, steps: int = 3) -> Path:
    config = tmp_path / "exp.yaml"
    config.write_text(f"!Trainer\nmodel: !Model {{width: 4}}\nsteps: {steps}\n")
    return config


def test_a_run_tells_plugins_it_started_and_how_it_ended(
    tmp_path: Path, probes: tuple[Probe, Probe], caplog: pytest.LogCaptureFixture
) -> None:
    broken, probe = probes
    assert run_config(_config(tmp_path), output=str(tmp_path / "out")) == 0
    assert probe.events == [
        ("started", "running", ["config.yaml", "metrics.jsonl", "run.json", "torchon.lock"], "Trainer", True),
        ("metric", 1, {"loss": 1.0}),
        ("metric", 2, {"loss": 0.5}),
        ("metric", 3, {"loss": 1.0 / 3}),
        ("finished", "succeeded", 0, "succeeded"),
    ]
    # the plugin that raised was told the same, was logged, and changed nothing
    assert [e[0] for e in broken.events] == ["started", "metric", "metric", "metric", "finished"]
    failures = [r for r in caplog.records if "plugin 'broken_probe' failed in" in r.getMessage()]
    assert [r.getMessage().split(" in ")[1].split(";")[0] for r in failures] == [
        "torchon_run_started",
        "torchon_run_finished",
    ]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "succeeded"


def test_a_failed_run_is_told_as_failed(tmp_path: Path, probes: tuple[Probe, Probe]) -> None:
    _, probe = probes
    (tmp_path / "boom").mkdir()
    (tmp_path / "boom" / "__init__.py").write_text(
        "from torchon.component import Runnable\n"
        "from torchon.errors import RunFailed\n\n"
        "class Boom(Runnable):\n"
        "    def run(self):\n"
        "        self.report(step=1, loss=2.0)\n"
        "        raise RunFailed('diverged')\n"
    )
    config = tmp_path / "exp.yaml"
    config.write_text(f"boom_ext: {tmp_path / 'boom'}\n---\n!boom_ext.Boom {{}}\n")
    assert run_config(config, output=str(tmp_path / "out")) == 1
    assert probe.events[1:] == [("metric", 1, {"loss": 2.0}), ("finished", "failed", 1, "failed")]


@pytest.mark.parametrize(
    ("best", "warned"),
    [({"metric": "loss", "value": 0.5, "mode": "min"}, False), ({"loss": 0.5}, True)],
)
def test_best_is_recorded_and_a_best_run_history_cannot_show_is_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, best: dict[str, Any], warned: bool
) -> None:
    ext = f"job_ext{int(warned)}"  # one module name per case: the run imports it into this process
    (tmp_path / ext).mkdir()
    (tmp_path / ext / "__init__.py").write_text(
        "from torchon.component import Runnable\n\n"
        "class Job(Runnable):\n"
        "    def run(self):\n"
        "        pass\n\n"
        "    def best(self):\n"
        f"        return {best!r}\n"
    )
    config = tmp_path / "exp.yaml"
    config.write_text(f"{ext}: {tmp_path / ext}\n---\n!{ext}.Job {{}}\n")
    assert run_config(config, output=str(tmp_path / "out")) == 0
    assert json.loads((tmp_path / "out" / "run.json").read_text())["best"] == best
    told = [r.getMessage() for r in caplog.records if "best() gave" in r.getMessage()]
    assert told == (
        ["Job.best() gave {'loss': 0.5}; run history shows a best result given as {'metric': NAME, 'value': "
         "NUMBER} (optionally 'mode' and 'at')"] if warned else []
    )  # fmt: skip
