"""Helpers of the end-to-end tests: throwaway virtual environments and git repositories (torchon-extensions'
test helpers, :mod:`torchon_extensions.testing`), and a folder per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchon_extensions.testing import GitRepo, Venv, build_wheel, project_files

__all__ = ["GitRepo", "Venv", "build_wheel", "project_files"]


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
