"""The s3:// backend against moto's S3 server over HTTP: bundles, plain files and folders, layout, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import torchon
from torchon.bundle import BundleIntegrityError
from torchon.storage import StorageError, storage_for
from torchon_s3.storage import S3Settings, S3Storage, S3StorageError, parse_uri
from torchon_s3.testing import MotoServer

CORPUS = Path(__file__).parent / "corpus"


def keys(raw_s3: Any, bucket: str, prefix: str = "") -> list[str]:
    pages = raw_s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def test_uri_parsing() -> None:
    assert parse_uri("s3://b") == ("b", "")
    assert parse_uri("s3://b/a/c/") == ("b", "a/c")
    with pytest.raises(S3StorageError, match="no bucket"):
        parse_uri("s3:///x")


def test_settings_from_environment() -> None:
    settings = S3Settings.from_env(
        {
            "TORCHON_S3_MAX_ATTEMPTS": "7",
            "TORCHON_S3_READ_TIMEOUT": "2.5",
            "TORCHON_S3_ENDPOINT_URL": "http://x",
        }
    )
    assert (settings.max_attempts, settings.read_timeout, settings.endpoint_url) == (7, 2.5, "http://x")
    with pytest.raises(S3StorageError, match="TORCHON_S3_MAX_ATTEMPTS='many' is not a valid int"):
        S3Settings.from_env({"TORCHON_S3_MAX_ATTEMPTS": "many"})


def test_bundle_round_trip_and_layout(corpus: Any, s3_env: dict[str, str], bucket: str, raw_s3: Any) -> None:
    holder = corpus.Holder(corpus.Weights(size=3_000_000, seed=1), name="big")  # 12 MB: a multipart upload
    holder.note = "saved to s3"
    uri = f"s3://{bucket}/models/holder"
    assert isinstance(storage_for(uri), S3Storage)
    assert torchon.save(holder, uri) == uri

    manifest = json.loads(raw_s3.get_object(Bucket=bucket, Key="models/holder/manifest.json")["Body"].read())
    blobs = {f"models/holder/blobs/{r['blake3']}" for r in manifest["files"].values()}
    assert keys(raw_s3, bucket) == sorted({"models/holder/manifest.json", *blobs})

    loaded = torchon.load(uri)
    assert loaded.name == "big" and loaded.note == "saved to s3"
    np.testing.assert_array_equal(loaded.weights.values, holder.weights.values)
    part = torchon.load(uri + "/", path="weights")
    assert part.size == 3_000_000


def test_bundle_at_the_bucket_root_loads_in_another_process(
    corpus: Any, s3_env: dict[str, str], bucket: str
) -> None:
    torchon.save(corpus.Holder(corpus.Weights(size=10, seed=3), name="root"), f"s3://{bucket}")
    script = textwrap.dedent(
        f"""
        import torchon, torchon.plugins as p
        p.set_manager(p.PluginManager.from_options(["s3", "numpy", "s3_corpus"], autoload=False))
        h = torchon.load("s3://{bucket}")
        print(h.name, h.weights.values.shape[0])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(CORPUS), "TORCHON_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["root", "10"]


def test_saving_again_uploads_only_what_changed_and_collects_old_blobs(
    corpus: Any, s3_env: dict[str, str], bucket: str, raw_s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"s3://{bucket}/m"
    weights = corpus.Weights(size=1000, seed=1)
    torchon.save(corpus.Holder(weights, name="one"), uri)
    first = set(keys(raw_s3, bucket, "m/blobs/"))
    stamps = {k: raw_s3.head_object(Bucket=bucket, Key=k)["LastModified"] for k in first}

    torchon.save(corpus.Holder(weights, name="two"), uri)  # same weights, another config
    second = set(keys(raw_s3, bucket, "m/blobs/"))
    assert first < second  # the previous generation is kept for readers that fetched the old manifest
    for key in first & second:  # unchanged files were not uploaded again
        assert raw_s3.head_object(Bucket=bucket, Key=key)["LastModified"] == stamps[key]

    monkeypatch.setenv("TORCHON_S3_GC_GRACE_SECONDS", "0")
    torchon.save(corpus.Holder(corpus.Weights(size=1000, seed=2), name="three"), uri)
    manifest = json.loads(raw_s3.get_object(Bucket=bucket, Key="m/manifest.json")["Body"].read())
    live = {f"m/blobs/{r['blake3']}" for r in manifest["files"].values()}
    third = set(keys(raw_s3, bucket, "m/blobs/"))
    assert live <= third and third <= live | second  # generations older than the previous one are gone
    assert not (first - second - live) & third
    assert torchon.load(uri).name == "three"


def test_plain_files_and_folders(s3_env: dict[str, str], bucket: str, tmp_path: Path, raw_s3: Any) -> None:
    backend = S3Storage()
    (tmp_path / "folder" / "sub").mkdir(parents=True)
    (tmp_path / "folder" / "a.txt").write_text("a")
    (tmp_path / "folder" / "sub" / "b.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    (tmp_path / "one.txt").write_text("one")

    backend.upload(tmp_path / "one.txt", f"s3://{bucket}/files/one.txt")
    backend.upload(tmp_path / "folder", f"s3://{bucket}/files/folder")
    assert keys(raw_s3, bucket) == ["files/folder/a.txt", "files/folder/sub/b.bin", "files/one.txt"]
    assert backend.exists(f"s3://{bucket}/files/one.txt") and backend.exists(f"s3://{bucket}/files/folder")
    assert not backend.exists(f"s3://{bucket}/files/nothing")

    got = backend.download(f"s3://{bucket}/files/one.txt", tmp_path / "out" / "one.txt")
    assert got.read_text() == "one"
    folder = backend.download(f"s3://{bucket}/files/folder", tmp_path / "out" / "folder")
    assert (folder / "sub" / "b.bin").read_bytes() == (tmp_path / "folder" / "sub" / "b.bin").read_bytes()
    with pytest.raises(S3StorageError, match="nothing is stored there"):
        backend.download(f"s3://{bucket}/files/nothing", tmp_path / "none")


def test_endpoint_as_a_setting(moto_server: MotoServer, bucket: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    (tmp_path / "f").write_text("x")
    backend = S3Storage(S3Settings(endpoint_url=moto_server.url))
    backend.upload(tmp_path / "f", f"s3://{bucket}/f")
    assert backend.exists(f"s3://{bucket}/f")
    monkeypatch.setenv("TORCHON_S3_ENDPOINT_URL", moto_server.url)
    assert S3Storage().exists(f"s3://{bucket}/f")


# -- errors --------------------------------------------------------------------------------------------------


def test_bucket_that_does_not_exist(corpus: Any, s3_env: dict[str, str]) -> None:
    with pytest.raises(
        S3StorageError, match=r"bucket 'no-such-bucket' does not exist at http://127\.0\.0\.1"
    ):
        torchon.save(corpus.Weights(), "s3://no-such-bucket/m")
    with pytest.raises(S3StorageError, match="bucket 'no-such-bucket' does not exist"):
        torchon.load("s3://no-such-bucket/m")


def test_prefix_without_a_bundle(corpus: Any, s3_env: dict[str, str], bucket: str, raw_s3: Any) -> None:
    with pytest.raises(StorageError, match="nothing is stored there"):
        torchon.load(f"s3://{bucket}/empty")
    raw_s3.put_object(Bucket=bucket, Key="data/table.csv", Body=b"a,b\n")
    with pytest.raises(BundleIntegrityError, match=r"no manifest\.json: not a torchon bundle"):
        torchon.load(f"s3://{bucket}/data")
    raw_s3.put_object(Bucket=bucket, Key="half/blobs/abc", Body=b"left by a save that failed")
    with pytest.raises(S3StorageError, match=r"no bundle here: there is no manifest\.json"):
        torchon.load(f"s3://{bucket}/half")


def test_saving_among_objects_that_are_not_a_bundle_is_refused(
    corpus: Any, s3_env: dict[str, str], bucket: str, raw_s3: Any
) -> None:
    raw_s3.put_object(Bucket=bucket, Key="data/table.csv", Body=b"a,b\n")
    with pytest.raises(
        S3StorageError, match=r"holds objects that are not a torchon bundle \(data/table\.csv\)"
    ):
        torchon.save(corpus.Weights(), f"s3://{bucket}/data")
    assert keys(raw_s3, bucket) == ["data/table.csv"]


def test_truncated_and_missing_objects(corpus: Any, s3_env: dict[str, str], bucket: str, raw_s3: Any) -> None:
    uri = f"s3://{bucket}/m"
    torchon.save(corpus.Holder(corpus.Weights(size=1000)), uri)
    manifest = json.loads(raw_s3.get_object(Bucket=bucket, Key="m/manifest.json")["Body"].read())
    name, record = next((n, r) for n, r in manifest["files"].items() if n.endswith(".npy"))
    key = f"m/blobs/{record['blake3']}"
    data = raw_s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    raw_s3.put_object(Bucket=bucket, Key=key, Body=data[:100])
    with pytest.raises(S3StorageError, match=rf"{name} \(object {key}\) has 100 bytes, the manifest says"):
        torchon.load(uri)

    raw_s3.put_object(Bucket=bucket, Key=key, Body=data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit
    with pytest.raises(BundleIntegrityError, match=rf"{name} does not match its blake3 digest"):
        torchon.load(uri)

    raw_s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(S3StorageError, match="an object of the bundle is missing"):
        torchon.load(uri)


def test_manifest_naming_files_outside_the_bundle_is_refused(
    s3_env: dict[str, str], bucket: str, raw_s3: Any, tmp_path: Path
) -> None:
    bad = {
        "format": "torchon.bundle",
        "digest": "blake3",
        "files": {"../../evil": {"size": 1, "blake3": "00"}},
    }
    raw_s3.put_object(Bucket=bucket, Key="evil/manifest.json", Body=json.dumps(bad).encode())
    with pytest.raises(S3StorageError, match="lists a file outside the bundle"):
        S3Storage().download(f"s3://{bucket}/evil", tmp_path / "b")
    assert not (tmp_path.parent / "evil").exists()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A moto server that checks credentials: every key is unknown to it."""
    log = tmp_path_factory.mktemp("moto-auth") / "server.log"
    with MotoServer(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}, log=log) as server:
        yield server


def test_wrong_credentials(corpus: Any, auth_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", auth_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(
        S3StorageError, match=r"refused the credentials .*InvalidAccessKeyId.*AWS_ACCESS_KEY_ID"
    ) as exc:
        torchon.save(corpus.Weights(), "s3://some-bucket/m")
    assert exc.value.code == "InvalidAccessKeyId"
    with pytest.raises(S3StorageError, match="refused the credentials"):
        torchon.load("s3://some-bucket/m")


def test_no_credentials_at_all(
    corpus: Any, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(S3StorageError, match="no usable AWS credentials"):
        torchon.load("s3://some-bucket/m")


def test_unreachable_endpoint(corpus: Any, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from torchon_s3.testing import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("TORCHON_S3_MAX_ATTEMPTS", "2")
    with pytest.raises(S3StorageError, match=r"cannot talk to http://127\.0\.0\.1:\d+ after 2 attempts"):
        torchon.load("s3://b/m")


def test_entry_module_does_not_import_boto3() -> None:
    code = "import sys, torchon_s3.plugin, torchon_s3; print('boto3' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
