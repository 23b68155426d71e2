"""Test helpers for extensions (torchon's own tests use them, and an extension's may): throwaway virtual
environments for tests that pip-install, and git repositories made on the spot.

Installing extensions means ``python -m pip install`` into the running environment, so those tests run torchon in
a subprocess of a venv made for them, never in the environment running the tests. Such a venv is made without
pip (fast) and sees the test environment's packages through a ``.pth`` file, like ``--system-site-packages`` with
the test environment as the system: pip, setuptools, torchon, this plugin and their dependencies are found there,
while everything installed goes into the throwaway venv (pip refuses to uninstall what lies outside it). pip runs
offline (``--no-index`` with ``--find-links`` to wheels the tests build) and without build isolation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path


class Venv:
    """A virtual environment layered over the test environment."""

    def __init__(self, path: Path, wheelhouse: Path, cache: Path) -> None:
        self.path = path
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
        self.python = path / "bin" / "python"
        purelib = subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        parents = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
        lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
        Path(purelib, "_torchon_tests_parent.pth").write_text(lines)
        self.site_packages = Path(purelib)
        wheelhouse.mkdir(parents=True, exist_ok=True)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("TORCHON_DISABLE_PLUGIN_AUTOLOAD", "TORCHON_DENY_PLUGINS")
        }
        self.env.update(
            PIP_NO_INDEX="1",
            PIP_FIND_LINKS=str(wheelhouse),
            PIP_NO_BUILD_ISOLATION="0",  # pip's inverted spelling: build with the environment's setuptools
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            TORCHON_CACHE_DIR=str(cache),
            COOKIECUTTER_CONFIG=str(path / "cookiecutter.yaml"),
            VIRTUAL_ENV=str(path),
            PATH=f"{path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        (path / "cookiecutter.yaml").write_text(
            f"replay_dir: {str(path / 'cc-replay')!r}\ncookiecutters_dir: {str(path / 'cc-repos')!r}\n"
        )

    def run(
        self, *args: str | Path, cwd: Path | None = None, check: bool = False, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args[0]`` from the venv's bin (``python``, ``torchon``) or a plain command."""
        exe = self.path / "bin" / str(args[0])
        cmd = [str(exe) if exe.exists() else str(args[0]), *map(str, args[1:])]
        proc = subprocess.run(
            cmd, cwd=cwd, env={**self.env, **env}, capture_output=True, text=True, timeout=300
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def torchon(
        self, *args: str | Path, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return self.run("python", "-m", "torchon", *args, cwd=cwd, **env)

    def pip(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return self.run("python", "-m", "pip", *args, check=True)


class GitRepo:
    """A git repository driven with the git command line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
        }
        return subprocess.run(
            ["git", *args], cwd=self.path, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            (self.path / name).write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


def project_files(folder: str, module: str, dist: str, version: str, body: str) -> dict[str, str]:
    """The files of a minimal setuptools project providing ``module``."""
    return {
        f"{folder}/pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "{dist}"\nversion = "{version}"\n'
            '[tool.setuptools.packages.find]\nwhere = ["src"]\n'
        ),
        f"{folder}/src/{module}/__init__.py": body,
    }


def build_wheel(venv: Venv, source: Path, wheelhouse: Path) -> None:
    venv.pip("wheel", "--no-deps", "--quiet", "-w", wheelhouse, source)
