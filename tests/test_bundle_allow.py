"""Loading plain classes with ``allow``, and bundles whose extension was a local path (each load in a fresh process).

Seed 000's engine is a plain class (``class ClassifierEngine(object)``) of an extension named by a local path:
``torchon.load`` refuses it by default, builds it for ``allow=[module]``, and, when the module is not installed,
names where the bundle was saved from (path and git commit) and how to load it anyway.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ENGINE = """
import torchon


class Scorer(torchon.Component):
    def __init__(self, bias: float = 0.0) -> None:
        self.bias = bias
        self.weights = [0.0, 0.0]

    def fit(self) -> "Scorer":
        self.weights = [2.0, -1.0]
        return self


class ClassifierEngine(object):
    def __init__(self, model: Scorer) -> None:
        self.model = model

    def predict(self, **kwargs):
        x = [kwargs["feature_1"], kwargs["feature_2"]]
        return {"score": sum(w * v for w, v in zip(self.model.weights, x)) + self.model.bias}
"""

MARKER = 'open({marker!r}, "w").write("ran")\n'


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def python(code: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",) and not k.startswith("TORCHON_")}
    env["TORCHON_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def result(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


CONFIG = """
engine_ext: project/engine_ext
---
!engine_ext.ClassifierEngine
model: !engine_ext.Scorer {bias: 0.5}
"""

# A plain class is saved when a config built it (its tag and arguments are remembered), as an Exporter does.
SAVE = """
import torchon
from torchon.config import load_config
engine = load_config({config!r}).build().root
engine.model.fit()
torchon.save(engine, {bundle!r})
"""


@pytest.fixture
def saved(tmp_path: Path) -> dict[str, Any]:
    """A bundle of a plain-class engine, saved from ``project/engine_ext`` (a git work tree, committed)."""
    project = tmp_path / "project"
    (project / "engine_ext").mkdir(parents=True)
    (project / "engine_ext" / "__init__.py").write_text(ENGINE)
    git(project, "init", "-q", ".")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "engine")
    commit = git(project, "rev-parse", "HEAD")
    (tmp_path / "engine.yaml").write_text(CONFIG)
    proc = python(SAVE.format(config="engine.yaml", bundle="bundles/engine"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    return {"root": tmp_path, "project": project, "commit": commit, "bundle": tmp_path / "bundles" / "engine"}


LOAD = """
import json
import torchon
try:
    engine = torchon.load("bundles/engine", allow={allow!r})
except Exception as exc:
    print(json.dumps({{"error": type(exc).__name__, "message": str(exc)}}))
else:
    print(json.dumps({{"outputs": engine.predict(feature_1=1.0, feature_2=3.0)}}))
"""


def test_the_manifest_records_where_a_local_extension_was_saved_from(saved: dict[str, Any]) -> None:
    manifest = json.loads((saved["bundle"] / "manifest.json").read_text())
    assert manifest["extensions"] == {
        "engine_ext": {
            "kind": "local",
            "path": str((saved["project"] / "engine_ext").resolve()),
            "commit": saved["commit"],
            "dirty": False,
        }
    }


def test_not_installed_names_the_path_the_commit_and_both_ways_to_load(saved: dict[str, Any]) -> None:
    out = result(python(LOAD.format(allow=[]), saved["root"]))
    assert out["error"] == "BundleError"
    message = out["message"]
    assert str((saved["project"] / "engine_ext").resolve()) in message
    assert f"git commit {saved['commit'][:12]}" in message
    assert "allow=['engine_ext']" in message and "trust=True" in message and "Install the package" in message


def test_allow_imports_the_module_from_where_it_was_saved_and_builds_the_plain_class(
    saved: dict[str, Any],
) -> None:
    expected = {"outputs": {"score": 2.0 * 1.0 - 1.0 * 3.0 + 0.5}}  # fitted weights and bias, as saved
    assert result(python(LOAD.format(allow=["engine_ext"]), saved["root"])) == expected
    other = result(python(LOAD.format(allow=["some_other_module"]), saved["root"]))
    assert other["error"] == "BundleError" and "allow=['engine_ext']" in other["message"]


def test_an_installed_module_s_plain_class_needs_allow(saved: dict[str, Any]) -> None:
    refused = result(python(LOAD.format(allow=[]), saved["root"], pythonpath=saved["project"]))
    assert refused["error"] == "BundleError"
    assert "!engine_ext.ClassifierEngine is a plain class, not a torchon.Component" in refused["message"]
    assert "torchon.load(uri, allow=['engine_ext'])" in refused["message"]
    assert "torchon serve URI --allow engine_ext" in refused["message"]
    allowed = result(python(LOAD.format(allow=["engine_ext"]), saved["root"], pythonpath=saved["project"]))
    assert allowed == {"outputs": {"score": -0.5}}


def test_a_moved_extension_is_named_with_its_commit(saved: dict[str, Any]) -> None:
    shutil.move(saved["project"], saved["root"] / "elsewhere")
    out = result(python(LOAD.format(allow=["engine_ext"]), saved["root"]))
    assert out["error"] == "BundleError"
    assert "does not exist on this machine" in out["message"] and saved["commit"][:12] in out["message"]


def test_uncommitted_changes_are_recorded(saved: dict[str, Any]) -> None:
    (saved["project"] / "engine_ext" / "__init__.py").write_text(ENGINE + "\n# edited\n")
    proc = python(SAVE.format(config="engine.yaml", bundle="bundles/dirty"), saved["root"])
    assert proc.returncode == 0, proc.stderr
    record = json.loads((saved["root"] / "bundles" / "dirty" / "manifest.json").read_text())["extensions"]
    assert record["engine_ext"]["dirty"] is True
    out = result(python(LOAD.format(allow=[]).replace("bundles/engine", "bundles/dirty"), saved["root"]))
    assert "with uncommitted changes" in out["message"]


def test_a_hostile_extension_record_is_not_imported_unless_allowed(
    saved: dict[str, Any], tmp_path: Path
) -> None:
    """A bundle can name any path; nothing is imported from it unless the caller names the module."""
    evil = tmp_path / "evil" / "engine_ext"
    evil.mkdir(parents=True)
    marker = tmp_path / "pwned"
    (evil / "__init__.py").write_text(MARKER.format(marker=str(marker)) + ENGINE)
    manifest_path = saved["bundle"] / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["extensions"]["engine_ext"]["path"] = str(evil)
    manifest_path.write_text(json.dumps(manifest))
    out = result(python(LOAD.format(allow=["something_else"]), saved["root"]))
    assert out["error"] == "BundleError" and not marker.exists()


def test_allow_does_not_allow_code_savers(tmp_path: Path) -> None:
    (tmp_path / "ratio_ext.py").write_text(
        textwrap.dedent(
            """
            import pickle
            from fractions import Fraction
            import torchon

            class PickleSaver(torchon.Saver):  # a code saver (torchon-numpy's joblib is another)
                name = "pickle"
                safety = "code"

                def save(self, obj, state, folder):
                    folder.write_bytes("state.pkl", pickle.dumps(state))
                    return {}

                def load(self, obj, state, folder):
                    return {**state, **pickle.loads(folder.read_bytes("state.pkl"))}

            class Ratio(torchon.Component):
                savers = (PickleSaver,)

                def __init__(self) -> None:
                    self.value = Fraction(1, 3)
            """
        )
    )
    proc = python(
        """
        from fractions import Fraction
        import torchon
        from ratio_ext import Ratio
        r = Ratio()
        r.value = Fraction(2, 7)
        torchon.save(r, "bundles/ratio")
        """,
        tmp_path,
        pythonpath=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = result(
        python(LOAD.format(allow=["ratio_ext"]).replace("bundles/engine", "bundles/ratio"), tmp_path)
    )
    assert out["error"] == "BundleSafetyError" and "a code saver" in out["message"]


def test_malformed_extension_records_are_refused(saved: dict[str, Any]) -> None:
    manifest_path = saved["bundle"] / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["extensions"]["engine_ext"] = "not an object"
    manifest_path.write_text(json.dumps(manifest))
    out = result(python(LOAD.format(allow=["engine_ext"]), saved["root"]))
    assert out["error"] == "BundleIntegrityError" and "extensions must map module names" in out["message"]
