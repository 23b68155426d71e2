"""Fixtures for torchon-s3's tests: a real moto S3 server on 127.0.0.1 (one per session), a fresh bucket per
test, and the plugin manager with this plugin and the test plugin ``corpus/s3_corpus.py``."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import torchon.plugins as plugins_module
from torchon_s3.testing import MotoServer

CORPUS = Path(__file__).parent / "corpus"
_buckets = itertools.count()

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(log=tmp_path_factory.mktemp("moto") / "server.log") as server:
        yield server


@pytest.fixture
def s3_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Credentials and the endpoint of the moto server, in this process's environment (boto3 reads them)."""
    for key in [k for k in os.environ if k.startswith(("AWS_", "TORCHON_S3_"))]:
        monkeypatch.delenv(key)
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": moto_server.url, "TORCHON_S3_MAX_ATTEMPTS": "3"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def raw_s3(s3_env: dict[str, str]) -> Any:
    """A plain boto3 client straight to the moto server, to look at what torchon stored."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"])


@pytest.fixture
def bucket(raw_s3: Any) -> str:
    name = f"bucket-{os.getpid()}-{next(_buckets)}"
    raw_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def corpus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The built-ins, torchon-s3, torchon-numpy (saves the arrays) and the test plugin; gives the latter."""
    monkeypatch.setenv("TORCHON_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.syspath_prepend(str(CORPUS))
    manager = plugins_module.PluginManager.from_options(["s3", "numpy", "s3_corpus"], autoload=False)
    assert not manager.failed(), [f"{f.name}: {f.error}" for f in manager.failed()]
    previous = plugins_module.set_manager(manager)
    import s3_corpus

    yield s3_corpus
    plugins_module.set_manager(previous)
