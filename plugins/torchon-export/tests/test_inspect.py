"""``torchon inspect``: what a bundle holds (components, savers, files, requirements, where local extensions came
from), and whether every file matches its digest, building nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from export_helpers import child_env, torchon_cli

import torchon


def test_inspect_lists_and_verifies(corpus: Any, trained: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "engine"
    model = torchon.load(trained)
    torchon.save(corpus.Engine(model=model, threshold=0.25), bundle)
    proc = torchon_cli("inspect", str(bundle), env=child_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for text in (
        "  (top): export_corpus:Engine VERSION 1",
        "  model: export_corpus:Classifier VERSION 1",
        "savers: json (data, protocol 1), npy (data",
        "safety: data only",
        "config.yaml",
        "torchon==",
        "verification: ok",
    ):
        assert text in out, out
    files = json.loads((bundle / "manifest.json").read_text())["files"]
    name = next(n for n in files if n.endswith(".npy"))
    data = bytearray((bundle / name).read_bytes())
    data[-1] ^= 0xFF
    (bundle / name).write_bytes(bytes(data))
    bad = torchon_cli("inspect", str(bundle), env=child_env(tmp_path))
    assert bad.returncode == 1 and f"verification: FAILED: {bundle}: {name} does not match" in bad.stdout
    skipped = torchon_cli("inspect", "--no-verify", str(bundle), env=child_env(tmp_path))
    assert skipped.returncode == 0 and skipped.stdout.endswith("verification: skipped\n")


def test_inspect_of_a_folder_without_a_bundle(tmp_path: Path) -> None:
    proc = torchon_cli("inspect", str(tmp_path), env=child_env(tmp_path))
    assert proc.returncode == 1 and "no manifest.json: not a torchon bundle" in proc.stderr


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_inspect_shows_where_a_local_extension_was_saved_from(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "engine_ext").mkdir(parents=True)
    (project / "engine_ext" / "__init__.py").write_text(
        "import torchon\n\n\nclass Scorer(torchon.Component):\n    def __init__(self, bias: float = 0.0) -> None:\n"
        "        self.bias = bias\n"
    )
    git(project, "init", "-q", ".")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "engine")
    commit = git(project, "rev-parse", "HEAD")
    save = "import engine_ext, torchon\ntorchon.save(engine_ext.Scorer(bias=0.5), 'bundles/engine')\n"
    env = child_env(tmp_path, PYTHONPATH=str(project))
    saved = subprocess.run(
        [sys.executable, "-c", save], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert saved.returncode == 0, saved.stderr
    proc = torchon_cli("inspect", str(tmp_path / "bundles" / "engine"), env=child_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    path = (project / "engine_ext").resolve()
    assert f"  engine_ext: {path}  (git commit {commit})" in proc.stdout
