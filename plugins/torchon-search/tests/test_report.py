"""``report.html`` in a real headless Chromium (driven over WebDriver by chromedriver): no console errors, every
Plotly chart drawn with data, legends naming the trials; a screenshot of each page is kept under the test's tmp folder
(its path printed). ``TORCHON_REPORT_SCREENSHOT=docs/images/report.png`` also writes the quickstart experiment's
screenshot there (the one docs/search.md shows)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from search_helpers import torchon

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="headless Chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)",
)

SEARCH = """
!Search
trial: !toy.Train
  model: !toy.Model {width: !grid [2, 8]}
  lr: !loguniform [0.001, 0.3]
  epochs: 4
  fail: !choice ["", "", raise]
metric: loss
num_samples: 4
seed: 1
max_concurrent: 2
"""

# choice, log-uniform and integer parameters, and one trial: nothing to compare, no importances
ONE_TRIAL = """
!Search
trial: !toy.Train
  model: !toy.Model {width: !randint [2, 16]}
  lr: !loguniform [0.001, 0.3]
  sleep: !choice [0.0, 0.01]
  epochs: 3
metric: loss
algorithm: random
num_samples: 1
seed: 3
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebDriver:
    """The few W3C WebDriver calls this test needs, over HTTP to a local chromedriver."""

    def __init__(self, profile: Path, height: int = 2400) -> None:
        self.port = _free_port()
        assert DRIVER is not None
        self.proc = subprocess.Popen(
            [DRIVER, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        args = [
            "--headless",
            "--no-sandbox",
            "--enable-unsafe-swiftshader",  # WebGL in software: Plotly draws parallel coordinates with it
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--window-size=1000,{height}",
            f"--user-data-dir={profile}",
        ]
        options = {"binary": CHROMIUM, "args": args}
        caps = {
            "capabilities": {
                "alwaysMatch": {"goog:chromeOptions": options, "goog:loggingPrefs": {"browser": "ALL"}}
            }
        }
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def get(self, url: str) -> None:
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def run(self, script: str) -> Any:
        return self._call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": []})

    def console(self) -> list[dict[str, Any]]:
        """The browser console's entries since the last call (chromedriver's log endpoint)."""
        entries: list[dict[str, Any]] = self._call(
            "POST", f"/session/{self.session}/se/log", {"type": "browser"}
        )
        return entries

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", f"/session/{self.session}/screenshot")))

    def close(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.session}")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)


DRAWN = """
const charts = [...document.querySelectorAll('div.chart .js-plotly-plot')];
return charts.length > 0 && charts.every(gd => gd.querySelector('.main-svg') && gd._fullLayout);
"""

MEASURE = """
const charts = [...document.querySelectorAll('div.chart')].map(div => {
  const gd = div.querySelector('.js-plotly-plot');
  const section = div.closest('section');
  const box = gd.getBoundingClientRect();
  return {
    chart: div.dataset.chart, stage: section ? section.dataset.stage : null,
    width: box.width, height: box.height,
    svgs: gd.querySelectorAll('.main-svg').length,
    traces: gd.data.length,
    points: gd.data.reduce((n, t) => n + (t.type === 'parcoords' ? t.dimensions[0].values.length
                                                                   : (t.y || []).length), 0),
    marks: gd.querySelectorAll('.scatterlayer .trace path.js-line, .scatterlayer .point, .barlayer .point,'
                               + ' .parcoords .axis, canvas').length,
    legend: [...gd.querySelectorAll('.legend .legendtext')].map(t => t.textContent),
    lineTypes: gd.data.map(t => t.type + ':' + (t.line && t.line.dash || '') + ':' + (t.name || '')),
  };
});
const skipped = [...document.querySelectorAll('.skipped')].map(p => ({
  chart: p.dataset.chart, stage: p.closest('section').dataset.stage, text: p.textContent}));
return {title: document.title, charts, skipped,
        noPlotly: getComputedStyle(document.getElementById('no-plotly')).display,
        best: [...document.querySelectorAll('table.best')].map(t => t.querySelectorAll('tr').length - 1),
        links: [...document.querySelectorAll('table.best a')].map(a => a.getAttribute('href')),
        lineage: [...document.querySelectorAll('table.lineage tr[data-trial]')].map(tr => tr.textContent),
        failed: [...document.querySelectorAll('ul.failed li')].map(li => li.textContent)};
"""


def render(page: Path, shot: Path, height: int = 2400) -> dict[str, Any]:
    """Open ``page``, wait until every chart is drawn, measure it, keep a screenshot at ``shot``; fail on any
    console error."""
    browser = WebDriver(shot.parent / f"profile-{shot.stem}", height)
    try:
        browser.get(page.as_uri())
        deadline = time.monotonic() + 30
        while not browser.run(DRAWN):
            assert time.monotonic() < deadline, "the charts were not drawn within 30 s"
            time.sleep(0.2)
        seen: dict[str, Any] = browser.run(MEASURE)
        browser.run("window.scrollTo(0, 0)")
        browser.screenshot(shot)
        console = browser.console()
    finally:
        browser.close()
    print(f"screenshot of {page.name}: {shot}")
    errors = [e for e in console if e.get("level") == "SEVERE"]
    assert not errors, f"console errors: {errors}"
    assert seen["noPlotly"] == "none"
    for chart in seen["charts"]:
        assert chart["svgs"] > 0 and chart["traces"] > 0 and chart["points"] > 0, chart
        assert chart["width"] > 300 and chart["height"] > 150, chart
        assert chart["marks"] > 0, chart
    assert shot.stat().st_size > 5000
    return seen


def charts(seen: dict[str, Any], stage: str) -> dict[str, dict[str, Any]]:
    return {c["chart"]: c for c in seen["charts"] if c["stage"] == stage}


def test_search_report(run_search, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc, out = run_search(SEARCH)
    assert proc.returncode == 0, proc.stderr
    rows = [r for r in (out / "results.csv").read_text().splitlines()[1:]]
    completed = sum(",completed," in r for r in rows)
    failed = sum(",failed," in r for r in rows)
    assert completed >= 4 and completed + failed == 8
    assert (out / "plotly.min.js").is_file() and (out / "report.json").is_file()
    seen = render(out / "report.html", tmp_path / "search-report.png")
    assert seen["title"] == "Search: exp.yaml"
    drawn = charts(seen, "search")
    assert set(drawn) == {"curves", "parallel", "slices", "importances"}, seen["skipped"]
    curves = drawn["curves"]
    # one line per trial that reported the metric (failed ones reported a step before failing), named in the legend
    assert curves["traces"] == completed + failed
    assert all(t.startswith("scatter:") for t in curves["lineTypes"])
    assert sum(":dot:" in t for t in curves["lineTypes"]) == failed
    assert len(curves["legend"]) == completed + failed
    assert all(name.startswith("trial ") for name in curves["legend"])
    assert drawn["parallel"]["points"] == completed
    assert drawn["slices"]["traces"] == 3  # model.width, lr, fail
    assert seen["best"] == [min(10, completed)]
    assert any(link.endswith("/output/") for link in seen["links"])
    assert all((out / link).is_dir() for link in seen["links"])
    assert len(seen["failed"]) == failed and all("ValueError: diverged" in f for f in seen["failed"])


def test_one_trial_report(run_search, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc, out = run_search(ONE_TRIAL)
    assert proc.returncode == 0, proc.stderr
    seen = render(out / "report.html", tmp_path / "one-trial-report.png")
    drawn = charts(seen, "search")
    assert set(drawn) == {"curves"}
    assert drawn["curves"]["legend"] == ["trial 0"]
    skipped = {s["chart"]: s["text"] for s in seen["skipped"]}
    assert skipped["parallel"] == skipped["slices"] == "1 trial(s) finished: nothing to compare."
    assert "need at least 4 finished trials; 1 finished" in skipped["importances"]
    assert seen["best"] == [1]


def test_experiment_report(tmp_path: Path) -> None:
    """The quickstart experiment (examples/digits), made short: its page shows the stages, the lineage of the test
    stage's trials and what reduce kept."""
    pytest.importorskip("torchon_torch")
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    proc = torchon(
        "run",
        REPO / "examples" / "digits" / "experiment.yaml",
        "search.train.num_samples=2",
        "pipeline.train.max_steps=3",
        "-o",
        out,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    shot = tmp_path / "experiment-report.png"
    seen = render(out / "report.html", shot, height=3700)
    if os.environ.get("TORCHON_REPORT_SCREENSHOT"):
        shutil.copyfile(shot, REPO / os.environ["TORCHON_REPORT_SCREENSHOT"])
    assert seen["title"] == "Experiment: experiment.yaml"
    train, test = charts(seen, "train"), charts(seen, "test")
    dag = [c for c in seen["charts"] if c["chart"] == "dag"]
    assert len(dag) == 1 and dag[0]["points"] == 2
    assert {"curves", "parallel", "slices"} <= set(train)
    assert all(t.startswith("scatter:") for t in train["curves"]["lineTypes"])
    # the test stage evaluates once per kept train variant: one bar per trial, each saying its train trial
    meta = json.loads((out / "report.json").read_text())
    kept = next(s for s in meta["stages"] if s["name"] == "train")["kept"]
    assert len(kept) == 2
    assert all(t.startswith("bar:") for t in test["curves"]["lineTypes"])
    assert len(test["curves"]["legend"]) == 2
    assert all("← train " in name for name in test["curves"]["legend"])
    assert len(seen["lineage"]) == 2 and all("train trial" in row for row in seen["lineage"])
