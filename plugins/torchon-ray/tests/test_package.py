"""What ``torchon submit`` ships and whom it asks, without a cluster: the package, its digest, ``--cluster``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ray_helpers import TESTS

from torchon.config import load_config
from torchon_ray.cluster import ClusterError, read_cluster
from torchon_ray.package import build_package
from torchon_ray.submit_cmd import submission_id

pytestmark = pytest.mark.ray  # torchon-ray's tests run together, in their own environment

CONFIG = """\
!Environment
extensions: {{raytoy: '{ext}'}}   # the extension
resources: {{notes: ./notes.txt}}
---
!raytoy.Score
weights: !raytoy.Weights {{size: 2}}
"""


def test_the_package_carries_extensions_and_resources_and_keeps_lines(tmp_path: Path) -> None:
    shutil.copytree(TESTS / "raytoy", tmp_path / "ext" / "raytoy")
    (tmp_path / "notes.txt").write_text("hello")
    cfg = tmp_path / "score.yaml"
    cfg.write_text(CONFIG.format(ext="./ext"))
    config = load_config(cfg)
    package = build_package(config, tmp_path / "job", {"output": "/shared/out"})
    text = (tmp_path / "job" / "score.yaml").read_text()
    assert text.splitlines()[1] == 'extensions: {raytoy: "./_ext/raytoy"}   # the extension'
    assert text.splitlines()[2] == 'resources: {notes: "./_res/notes/notes.txt"}'
    assert len(text.splitlines()) == len(config.text.splitlines())
    assert (tmp_path / "job" / "_ext" / "raytoy" / "raytoy" / "__init__.py").is_file()
    assert (tmp_path / "job" / "_res" / "notes" / "notes.txt").read_text() == "hello"

    same = build_package(load_config(cfg), tmp_path / "job2", {"output": "/shared/out"})
    elsewhere = build_package(load_config(cfg), tmp_path / "job3", {"output": "/shared/other"})
    assert same.digest == package.digest != elsewhere.digest
    assert submission_id(str(cfg), package.digest) == f"torchon-score-{package.digest[:12]}"


def test_cluster_addresses_and_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert read_cluster("head:8265").address == "http://head:8265"
    assert read_cluster("http://head:8265/").headers() == {"Authorization": "Bearer from-env"}
    file = tmp_path / "cluster.yaml"
    file.write_text("address: head:8265\ntoken_env: MY_TOKEN\n")
    with pytest.raises(ClusterError, match=r"\$MY_TOKEN, which is not set"):
        read_cluster(str(file))
    monkeypatch.setenv("MY_TOKEN", "mine")
    assert read_cluster(str(file)).token == "mine"
    file.write_text("address: head:8265\ntoken: inline\n")
    with pytest.raises(ClusterError, match="unknown field"):
        read_cluster(str(file))
