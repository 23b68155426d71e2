"""``report.html`` in a real headless Chromium (driven over WebDriver by chromedriver): it renders, its plots show data."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

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
  lr: !uniform [0.0, 0.3]
  epochs: 4
  fail: !choice ["", "", raise]
metric: loss
num_samples: 4
seed: 1
max_concurrent: 2
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebDriver:
    """The few W3C WebDriver calls this test needs, over HTTP to a local chromedriver."""

    def __init__(self, profile: Path) -> None:
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
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1000,2400",
            f"--user-data-dir={profile}",
        ]
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}}
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

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", f"/session/{self.session}/screenshot")))

    def close(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.session}")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)


MEASURE = """
const plots = {};
for (const svg of document.querySelectorAll('svg.plot')) {
  const series = [...svg.querySelectorAll('.series')].map(el => {
    const box = el.getBBox();
    return {trial: el.dataset.trial, w: box.width, h: box.height,
            points: el.tagName === 'polyline' ? el.points.numberOfItems : 1};
  });
  const rect = svg.getBoundingClientRect();
  (plots[svg.dataset.plot] ||= []).push({width: rect.width, height: rect.height, series});
}
return {title: document.title, plots,
        best: [...document.querySelectorAll('table.best tr')].length - 1,
        failed: [...document.querySelectorAll('ul.failed li')].map(li => li.textContent)};
"""


def test_report_renders_with_data(run_search, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc, out = run_search(SEARCH)
    assert proc.returncode == 0, proc.stderr
    rows = [r for r in (out / "results.csv").read_text().splitlines()[1:]]
    completed = sum(",completed," in r for r in rows)
    failed = sum(",failed," in r for r in rows)
    assert completed >= 2 and completed + failed == 8
    browser = WebDriver(tmp_path / "profile")
    try:
        browser.get((out / "report.html").as_uri())
        seen = browser.run(MEASURE)
        browser.screenshot(tmp_path / "report.png")
    finally:
        browser.close()
    assert seen["title"] == "Search: exp.yaml"
    curves, parallel = seen["plots"]["curves"][0], seen["plots"]["parallel"][0]
    assert curves["width"] > 300 and curves["height"] > 200
    # one line per trial that reported the metric (failed ones reported one step before failing), 4 steps each
    assert len(curves["series"]) >= completed
    assert all(s["points"] == 4 and s["w"] > 10 for s in curves["series"] if s["points"] > 1)
    assert len(parallel["series"]) == completed and all(s["w"] > 100 for s in parallel["series"])
    assert seen["best"] == min(10, completed)
    assert len(seen["failed"]) == failed and all("ValueError: diverged" in f for f in seen["failed"])
    assert (tmp_path / "report.png").stat().st_size > 5000
