"""Faults injected at the HTTP level between boto3 and a real S3 server (moto's, on 127.0.0.1): 503s and
connection resets during multipart uploads are retried; when retries run out, nothing is committed, no
multipart upload is left pending, and the bundle saved before still loads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import torchon
from torchon_s3.storage import S3StorageError
from torchon_s3.testing import Fault, FaultProxy, MotoServer, is_upload_part

PART = 5 * 1024 * 1024


@pytest.fixture
def proxy(
    moto_server: MotoServer, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """torchon talks to the moto server through a fault-injecting proxy; ``raw_s3`` still goes direct."""
    with FaultProxy(moto_server.url) as proxy:
        monkeypatch.setenv("TORCHON_S3_ENDPOINT_URL", proxy.url)
        monkeypatch.setenv("TORCHON_S3_MULTIPART_THRESHOLD", str(PART))
        monkeypatch.setenv("TORCHON_S3_MULTIPART_CHUNKSIZE", str(PART))
        yield proxy


def big(corpus: Any, seed: int, name: str) -> Any:
    return corpus.Holder(corpus.Weights(size=3_000_000, seed=seed), name=name)  # 12 MB: three parts


def pending(raw_s3: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in raw_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def manifest_bytes(raw_s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        data: bytes = raw_s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data
    except raw_s3.exceptions.NoSuchKey:
        return None


@pytest.mark.parametrize("action", ["503", "reset"])
def test_faults_during_a_multipart_upload_are_retried(
    corpus: Any, proxy: FaultProxy, bucket: str, raw_s3: Any, action: str
) -> None:
    proxy.faults.append(Fault(action, times=2))
    holder = big(corpus, 1, "retried")
    uri = f"s3://{bucket}/m"
    torchon.save(holder, uri)
    assert proxy.faults[0].hits == 2
    assert sum(1 for m, p, _ in proxy.requests if is_upload_part(m, p)) >= 5  # 3 parts + 2 retried
    assert pending(raw_s3, bucket) == []
    loaded = torchon.load(uri)
    np.testing.assert_array_equal(loaded.weights.values, holder.weights.values)


@pytest.mark.parametrize("action", ["503", "reset"])
def test_when_retries_run_out_the_previous_bundle_stays(
    corpus: Any, proxy: FaultProxy, bucket: str, raw_s3: Any, action: str
) -> None:
    uri = f"s3://{bucket}/m"
    before = big(corpus, 1, "before")
    torchon.save(before, uri)
    committed = manifest_bytes(raw_s3, bucket, "m/manifest.json")

    proxy.faults.append(Fault(action, times=None))  # every part of every upload fails, every retry
    with pytest.raises(S3StorageError, match=r"uploading the bundle failed") as exc:
        torchon.save(big(corpus, 2, "after"), uri)
    assert proxy.faults[0].hits >= 3  # max_attempts=3 tries of at least one part
    assert exc.value.code in ("SlowDown", "Connection")
    assert manifest_bytes(raw_s3, bucket, "m/manifest.json") == committed
    assert pending(raw_s3, bucket) == []

    proxy.faults.clear()
    loaded = torchon.load(uri)
    assert loaded.name == "before"
    np.testing.assert_array_equal(loaded.weights.values, before.weights.values)


def test_a_first_save_that_fails_commits_nothing(
    corpus: Any, proxy: FaultProxy, bucket: str, raw_s3: Any
) -> None:
    proxy.faults.append(Fault("reset", times=None))
    with pytest.raises(S3StorageError):
        torchon.save(big(corpus, 1, "x"), f"s3://{bucket}/m")
    assert manifest_bytes(raw_s3, bucket, "m/manifest.json") is None
    assert pending(raw_s3, bucket) == []
    proxy.faults.clear()
    with pytest.raises(S3StorageError, match="no bundle here"):
        torchon.load(f"s3://{bucket}/m")


def test_a_failed_commit_leaves_the_previous_manifest(
    corpus: Any, proxy: FaultProxy, bucket: str, raw_s3: Any
) -> None:
    uri = f"s3://{bucket}/m"
    torchon.save(corpus.Holder(corpus.Weights(size=10), name="before"), uri)
    proxy.faults.append(
        Fault("503", match=lambda method, path: method == "PUT" and "manifest.json" in path, times=None)
    )
    with pytest.raises(S3StorageError, match=r"writing manifest\.json \(the bundle was not committed\)"):
        torchon.save(corpus.Holder(corpus.Weights(size=10), name="after"), uri)
    proxy.faults.clear()
    assert torchon.load(uri).name == "before"


def test_faults_while_downloading_are_retried(corpus: Any, proxy: FaultProxy, bucket: str) -> None:
    uri = f"s3://{bucket}/m"
    holder = big(corpus, 4, "down")
    torchon.save(holder, uri)
    proxy.faults.append(
        Fault("503", match=lambda method, path: method == "GET" and "/blobs/" in path, times=2)
    )
    loaded = torchon.load(uri)
    assert proxy.faults[0].hits == 2
    np.testing.assert_array_equal(loaded.weights.values, holder.weights.values)
