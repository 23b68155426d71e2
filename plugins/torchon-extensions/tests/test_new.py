"""`torchon new` bakes the extension template; the baked package installs, tests itself, and torchon uses it.

The slow test does what a user does after `pip install torchon torchon-extensions` (wheels, not this checkout):
build both wheels, install them into a fresh venv, bake a package with that venv's `torchon new`, pip-install it
there, run its own tests, and check that `torchon plugins` lists it and that its example config
(`!my_thing.MyTrainer`) runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from torchon_extensions.testing import Venv

PLUGIN = Path(__file__).resolve().parents[1]
REPO = PLUGIN.parents[1]


def _new(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`torchon new ARGS` from the development install (this plugin loaded by name, whatever else is installed),
    with cookiecutter's own files kept in tmp_path."""
    own = tmp_path / ".cookiecutter"
    own.mkdir(exist_ok=True)
    (own / "config.yaml").write_text(f"replay_dir: {str(own / 'replay')!r}\n")
    env = {**os.environ, "COOKIECUTTER_CONFIG": str(own / "config.yaml")}
    return subprocess.run(
        [sys.executable, "-m", "torchon", "-p", "extensions", "new", *args],
        cwd=tmp_path,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_new_bakes_a_package_from_name_and_answers(tmp_path: Path) -> None:
    proc = _new(tmp_path, "my_thing", "--no-input", "author=Ada Lovelace", "version=0.2.0")
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "my-thing"
    assert "Baked my-thing in my-thing" in proc.stdout and "pip install -e ." in proc.stdout
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "my-thing" and meta["project"]["version"] == "0.2.0"
    assert meta["project"]["authors"] == [{"name": "Ada Lovelace"}]
    assert meta["project"]["entry-points"]["torchon"] == {"my_thing": "my_thing.plugin"}
    from torchon import __version__

    assert meta["project"]["dependencies"] == [f"torchon>={__version__}"]
    for name in ("__init__.py", "plugin.py", "model.py", "trainer.py", "savers.py"):
        assert (root / "src" / "my_thing" / name).is_file()
    assert "!my_thing.MyTrainer" in (root / "examples" / "train.yaml").read_text()
    assert (root / "tests" / "test_my_thing.py").is_file() and (root / "README.md").is_file()
    assert "{{" not in "".join(p.read_text() for p in root.rglob("*") if p.is_file())


def test_the_templates_bytecode_is_not_baked_into_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip compiles the template's .py files when it installs torchon-extensions from a wheel."""
    from torchon_extensions.new import bake, template_dir

    template = shutil.copytree(
        template_dir(), tmp_path / "template", ignore=shutil.ignore_patterns("__pycache__")
    )
    for folder in [p for p in template.rglob("*") if p.is_dir()] + [template]:
        (folder / "__pycache__").mkdir()
        (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\xa7\r\r\n")
    (tmp_path / "config.yaml").write_text(f"replay_dir: {str(tmp_path / 'replay')!r}\n")
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(tmp_path / "config.yaml"))
    out = tmp_path / "out"
    assert bake(template, {"module_name": "my_thing"}, no_input=True, output_dir=out) == 0
    baked = out / "my-thing"
    assert (baked / "src" / "my_thing" / "plugin.py").is_file()
    assert not list(baked.rglob("__pycache__")) and not list(baked.rglob("*.pyc"))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("1abc", "is not a valid Python module name"),
        ("my-ext", "is not a valid Python module name"),
        ("class", "is a Python keyword"),
        ("json", "would shadow Python's own module"),
    ],
)
def test_the_pre_generation_hook_refuses_bad_module_names(tmp_path: Path, name: str, reason: str) -> None:
    proc = _new(tmp_path, name, "--no-input")
    assert proc.returncode == 2
    assert f"error: module_name '{name}' {reason}" in proc.stderr
    assert "the template refused these answers" in proc.stderr and "Traceback" not in proc.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name != ".cookiecutter"] == [], "nothing was written"


def test_new_asks_when_interactive(tmp_path: Path) -> None:
    # answers, in cookiecutter.json's order: module_name, distribution_name, description, author, version
    proc = _new(tmp_path, stdin="asked_ext\n\nAn asked extension\nGrace\n\n")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    meta = tomllib.loads((tmp_path / "asked-ext" / "pyproject.toml").read_text())["project"]
    assert (meta["name"], meta["description"], meta["authors"]) == (
        "asked-ext",
        "An asked extension",
        [{"name": "Grace"}],
    )


def test_new_usage_errors(tmp_path: Path) -> None:
    proc = _new(tmp_path, "a", "b", "--no-input")
    assert proc.returncode == 2 and "give one NAME, not 2" in proc.stderr
    proc = _new(tmp_path, "a", "colour=red", "--no-input")
    assert proc.returncode == 2 and "the template asks no 'colour'" in proc.stderr
    assert _new(tmp_path, "dup", "--no-input").returncode == 0
    proc = _new(tmp_path, "dup", "--no-input")
    assert proc.returncode == 2 and "already exists" in proc.stderr


@pytest.mark.slow
def test_baked_package_installs_next_to_a_wheel_installed_torchon_and_passes_its_tests(
    tmp_path: Path,
) -> None:
    venv = Venv(tmp_path / "venv", tmp_path / "wheels", tmp_path / "cache")
    # copies, so building leaves the checkout untouched
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    kernel = tmp_path / "torchon-src"
    kernel.mkdir()
    shutil.copy(REPO / "pyproject.toml", kernel)
    shutil.copy(REPO / "README.md", kernel)
    shutil.copytree(REPO / "core", kernel / "core", ignore=skip)
    plugin = tmp_path / "torchon-extensions-src"
    plugin.mkdir()
    shutil.copy(PLUGIN / "pyproject.toml", plugin)
    shutil.copy(PLUGIN / "README.md", plugin)
    shutil.copytree(PLUGIN / "src", plugin / "src", ignore=skip)
    for source in (kernel, plugin):
        venv.pip("wheel", "--no-deps", "--quiet", "-w", tmp_path / "wheels", source)
    wheels = [next((tmp_path / "wheels").glob(f"{name}-*.whl")) for name in ("torchon", "torchon_extensions")]
    venv.pip("install", "--quiet", "--no-deps", "--ignore-installed", *wheels)
    for module in ("torchon", "torchon_extensions"):
        where = venv.run("python", "-c", f"import {module}; print({module}.__file__)", check=True).stdout
        assert Path(where.strip()).is_relative_to(venv.path), (
            f"{module} comes from its wheel, not the checkout"
        )

    work = tmp_path / "work"
    work.mkdir()
    baked = venv.run("torchon", "new", "my_thing", "--no-input", cwd=work, check=True)
    assert "Baked my-thing" in baked.stdout
    package = work / "my-thing"
    assert not list(package.rglob("__pycache__")), "the template's bytecode (pip compiled it) was baked in"
    venv.pip("install", "--quiet", package)

    tests = venv.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert tests.stdout.strip().splitlines()[-1].startswith("5 passed")

    listing = venv.run("torchon", "plugins", cwd=work)
    line = next(x for x in listing.stdout.splitlines() if x.startswith("my_thing "))
    assert "my-thing" in line and "!my_thing.*" in line and "my_thing_weights" in line, listing.stdout

    (work / "exp.yaml").write_text(
        "!my_thing.MyTrainer\nmodel: !my_thing.LinearModel {init: 0.5}\nlr: 0.4\nepochs: 50\n"
    )
    run = venv.run("torchon", "run", "exp.yaml", "-o", "out", cwd=work)
    assert run.returncode == 0, run.stderr
    losses = [json.loads(x)["loss"] for x in (work / "out" / "metrics.jsonl").read_text().splitlines()]
    assert 1 < len(losses) <= 50 and losses[-1] < losses[0] / 100
    lock = json.loads((work / "out" / "torchon.lock").read_text())
    assert lock["classes"]["!my_thing.MyTrainer"]["distribution"] == "my-thing"
