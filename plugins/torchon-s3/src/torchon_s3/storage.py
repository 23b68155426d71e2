"""``s3://bucket/prefix`` storage: bundles and plain files or folders on Amazon S3 or an S3-compatible server.

A bundle at ``s3://bucket/prefix`` is stored content-addressed, with its manifest as the one pointer to it::

    prefix/manifest.json        the bundle's manifest, byte for byte: written last, it commits the bundle
    prefix/blobs/<blake3>       every other file, keyed by the BLAKE3 digest the manifest lists for it

Saving uploads the blobs the prefix does not hold yet, then ``manifest.json`` in one PUT (atomic in S3). Until
that PUT the previous manifest, and the blobs it names, are untouched, so a failed or interrupted save leaves the
previous bundle loadable (or, for a first save, no bundle at all), and a failed multipart upload is aborted.
After the commit, blobs that neither the new nor the previous manifest names, and that are older than a grace
period, are deleted; keeping the previous generation lets a reader that fetched the old manifest finish.

boto3 is imported here only, when an ``s3://`` URI is first used; settings come from the environment
(:class:`S3Settings`), credentials from boto3's usual chain.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any

from torchon.api import Storage, StorageError, split_scheme

__all__ = ["S3Settings", "S3Storage", "S3StorageError", "parse_uri"]

logger = logging.getLogger("torchon.s3")

MANIFEST = "manifest.json"
BLOBS = "blobs"
MiB = 1024 * 1024

_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
}
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class S3StorageError(StorageError):
    """An S3 operation failed; the message names the URI, what went wrong and what to do. ``code`` is S3's."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class S3Settings:
    """How torchon talks to S3. Each field can be set with ``TORCHON_S3_<FIELD>`` in the environment.

    ``endpoint_url`` overrides where requests go (an S3-compatible server); when unset, boto3's own
    ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` apply. Retries use botocore's ``standard`` mode (throttling,
    5xx and connection errors are retried with backoff) up to ``max_attempts`` tries per request.
    """

    endpoint_url: str | None = None
    region: str | None = None
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    multipart_threshold: int = 16 * MiB
    multipart_chunksize: int = 16 * MiB
    max_concurrency: int = 10
    gc_grace_seconds: float = 3600.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> S3Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"TORCHON_S3_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise S3StorageError(
                    f"TORCHON_S3_{f.name.upper()}={raw!r} is not a valid {kind.__name__}"
                ) from None
        return cls(**values)


def parse_uri(uri: str) -> tuple[str, str]:
    """``("bucket", "a/b")`` for ``s3://bucket/a/b/``."""
    scheme, rest = split_scheme(uri)
    if scheme != "s3":
        raise S3StorageError(f"{uri}: not an s3:// URI")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise S3StorageError(f"{uri}: no bucket; write s3://BUCKET or s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _safe_name(name: str, uri: str) -> str:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in name:
        raise S3StorageError(f"{uri}: {MANIFEST} lists a file outside the bundle ({name!r}); refusing it")
    return pure.as_posix()


_clients: dict[tuple[S3Settings, tuple[tuple[str, str], ...]], Any] = {}
_clients_lock = threading.Lock()


def _client(settings: S3Settings) -> Any:
    """One boto3 client per settings and AWS_* environment per process (clients are thread-safe)."""
    key = (settings, tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": settings.max_attempts},
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
                max_pool_connections=max(10, settings.max_concurrency * 2),
                # moto, MinIO and most S3-compatible servers do not route virtual-hosted bucket names
                s3={"addressing_style": "path"} if settings.endpoint_url else None,
            )
            client = boto3.session.Session().client(
                "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
            )
            _clients[key] = client
        return client


def _client_error(exc: BaseException) -> Any:
    """The botocore ClientError behind ``exc``, if any (s3transfer and boto3 wrap them)."""
    from botocore.exceptions import ClientError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ClientError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class S3Storage(Storage):
    """``s3://`` URIs. ``S3Storage()`` reads :class:`S3Settings` from the environment."""

    scheme = "s3"

    def __init__(self, settings: S3Settings | None = None) -> None:
        self.settings = settings or S3Settings.from_env()

    # -- plumbing --------------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        try:
            return _client(self.settings)
        except Exception as exc:  # a malformed endpoint URL, an unknown profile
            raise S3StorageError(f"cannot create an S3 client: {type(exc).__name__}: {exc}") from exc

    def _endpoint(self) -> str:
        try:
            return str(self.client.meta.endpoint_url)
        except S3StorageError:
            return self.settings.endpoint_url or "the default AWS endpoint"

    def explain(self, exc: BaseException, uri: str, doing: str) -> S3StorageError:
        """A message a user can act on, for an exception boto3 raised while ``doing`` something to ``uri``."""
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError, NoCredentialsError, PartialCredentialsError

        if isinstance(exc, S3StorageError):
            return exc
        bucket = parse_uri(uri)[0]
        error = _client_error(exc)
        if error is not None:
            code = str(error.response.get("Error", {}).get("Code", "")) or "?"
            message = error.response.get("Error", {}).get("Message", "") or str(error)
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                return S3StorageError(
                    f"{uri}: bucket {bucket!r} does not exist at {self._endpoint()}; create it, or check the "
                    "bucket name and AWS_ENDPOINT_URL",
                    code,
                )
            if code in _AUTH_CODES or status == 403:
                return S3StorageError(
                    f"{uri}: the S3 server refused the credentials while {doing} ({code}: {message}); check "
                    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the role this machine has, and "
                    f"that it may use bucket {bucket!r}",
                    code,
                )
            return S3StorageError(f"{uri}: {doing} failed: {code}: {message} (HTTP {status})", code)
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return S3StorageError(
                f"{uri}: no usable AWS credentials ({exc}); boto3 looks in AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws/credentials, then the instance role",
                "NoCredentials",
            )
        if isinstance(exc, (BotoConnectionError, HTTPClientError)):
            return S3StorageError(
                f"{uri}: {doing} failed: cannot talk to {self._endpoint()} after {self.settings.max_attempts} "
                f"attempts ({type(exc).__name__}: {exc}); check the network and AWS_ENDPOINT_URL",
                "Connection",
            )
        return S3StorageError(f"{uri}: {doing} failed: {type(exc).__name__}: {exc}")

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        s = self.settings
        return TransferConfig(
            multipart_threshold=s.multipart_threshold,
            multipart_chunksize=s.multipart_chunksize,
            max_concurrency=s.max_concurrency,
            use_threads=True,
        )

    def _transfer(self, uri: str, doing: str, jobs: Iterable[tuple[str, Any]]) -> None:
        """Run transfers (``("upload", (path, bucket, key))`` or ``("download", (bucket, key, path))``) together,
        sharing one pool; on the first failure the others are cancelled and multipart uploads aborted."""
        from s3transfer.manager import TransferManager

        try:
            # leaving the block on an error cancels the other transfers and aborts their multipart uploads
            # (TransferManager.shutdown(cancel=True) cannot: s3transfer 0.19 passes its arguments wrongly)
            with TransferManager(self.client, self._transfer_config()) as manager:
                futures = []
                for kind, args in jobs:
                    if kind == "upload":
                        path, bucket, key = args
                        futures.append(manager.upload(str(path), bucket, key))
                    else:
                        bucket, key, path = args
                        futures.append(manager.download(bucket, key, str(path)))
                for future in futures:
                    future.result()
        except Exception as exc:
            raise self.explain(exc, uri, doing) from exc

    def _get(self, bucket: str, key: str, uri: str) -> bytes | None:
        """An object's bytes, or None when there is none."""
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            data: bytes = response["Body"].read()
        except Exception as exc:
            error = _client_error(exc)
            if error is not None and str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND:
                return None
            raise self.explain(exc, uri, f"reading {key!r}") from exc
        if len(data) != response.get("ContentLength", len(data)):
            raise S3StorageError(f"{uri}: object {key!r} arrived truncated ({len(data)} bytes)")
        return data

    def _head(self, bucket: str, key: str, uri: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=bucket, Key=key)
            return head
        except Exception as exc:
            error = _client_error(exc)
            if error is not None and str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND:
                return None
            raise self.explain(exc, uri, f"looking up {key!r}") from exc

    def _list(self, bucket: str, prefix: str, uri: str) -> Iterator[dict[str, Any]]:
        """Every object under ``prefix`` (a folder prefix ending in ``/``, or ``""`` for the bucket)."""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                yield from page.get("Contents", [])
        except Exception as exc:
            raise self.explain(exc, uri, f"listing {prefix or 'the bucket'!r}") from exc

    # -- Storage ---------------------------------------------------------------------------------------------

    def exists(self, uri: str) -> bool:
        bucket, prefix = parse_uri(uri)
        if prefix and self._head(bucket, prefix, uri) is not None:
            return True
        folder = _join(prefix, "")
        try:
            response = self.client.list_objects_v2(Bucket=bucket, Prefix=folder, MaxKeys=1)
        except Exception as exc:
            raise self.explain(exc, uri, "looking it up") from exc
        return bool(response.get("KeyCount"))

    def download(self, uri: str, dest: Path) -> Path:
        bucket, prefix = parse_uri(uri)
        manifest = self._get(bucket, _join(prefix, MANIFEST), uri)
        if manifest is not None:
            return self._download_bundle(uri, manifest, dest)
        if prefix and self._head(bucket, prefix, uri) is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._transfer(uri, "downloading", [("download", (bucket, prefix, dest))])
            return dest
        folder = _join(prefix, "")
        objects = [o for o in self._list(bucket, folder, uri) if not o["Key"].endswith("/")]
        if not objects:
            raise S3StorageError(f"{uri}: nothing is stored there (no object, no {MANIFEST})", "NoSuchKey")
        if all(o["Key"].startswith(_join(prefix, BLOBS + "/")) for o in objects):
            raise S3StorageError(
                f"{uri}: no bundle here: there is no {MANIFEST} (a save that did not finish leaves none; "
                "nothing was committed)",
                "NoManifest",
            )
        jobs = []
        for obj in objects:
            name = _safe_name(obj["Key"][len(folder) :], uri)
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            jobs.append(("download", (bucket, obj["Key"], target)))
        self._transfer(uri, "downloading", jobs)
        return dest

    def upload(self, src: Path, uri: str) -> None:
        bucket, prefix = parse_uri(uri)
        src = Path(src)
        if src.is_file():
            if not prefix:
                raise S3StorageError(f"{uri}: a file needs a key; write s3://{bucket}/NAME")
            self._transfer(uri, "uploading", [("upload", (src, bucket, prefix))])
        elif (src / MANIFEST).is_file():
            self._upload_bundle(src, bucket, prefix, uri)
        elif src.is_dir():
            jobs = [
                ("upload", (p, bucket, _join(prefix, p.relative_to(src).as_posix())))
                for p in sorted(src.rglob("*"))
                if p.is_file()
            ]
            self._transfer(uri, "uploading", jobs)
        else:
            raise S3StorageError(f"{src}: no such file or folder to upload to {uri}")

    # -- bundles ---------------------------------------------------------------------------------------------

    def _download_bundle(self, uri: str, manifest_bytes: bytes, dest: Path) -> Path:
        bucket, prefix = parse_uri(uri)
        try:
            manifest = json.loads(manifest_bytes)
            algorithm = manifest.get("digest", "blake3")
            files = {name: (int(r["size"]), str(r[algorithm])) for name, r in manifest["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise S3StorageError(
                f"{uri}: {MANIFEST} is malformed ({type(exc).__name__}: {exc})", "BadManifest"
            ) from None
        dest.mkdir(parents=True, exist_ok=True)
        jobs = []
        for name, (_size, digest) in files.items():
            target = dest / _safe_name(name, uri)
            target.parent.mkdir(parents=True, exist_ok=True)
            jobs.append(("download", (bucket, _join(prefix, f"{BLOBS}/{digest}"), target)))
        try:
            self._transfer(uri, "downloading the bundle", jobs)
        except S3StorageError as exc:
            if exc.code in _NOT_FOUND:
                raise S3StorageError(
                    f"{uri}: an object of the bundle is missing from {_join(prefix, BLOBS)}/ ({exc}); the "
                    "bundle was damaged after it was saved: save it again",
                    exc.code,
                ) from exc
            raise
        for name, (size, digest) in files.items():
            got = (dest / name).stat().st_size
            if got != size:
                raise S3StorageError(
                    f"{uri}: {name} (object {_join(prefix, f'{BLOBS}/{digest}')}) has {got} bytes, the manifest "
                    f"says {size}: the stored object is truncated or altered",
                    "Truncated",
                )
        (dest / MANIFEST).write_bytes(manifest_bytes)
        return dest

    def _check_destination(self, bucket: str, prefix: str, uri: str) -> None:
        """Refuse to save a bundle among objects that are not one (as a local save refuses a non-bundle folder)."""
        folder = _join(prefix, "")
        try:
            response = self.client.list_objects_v2(Bucket=bucket, Prefix=folder, Delimiter="/", MaxKeys=50)
        except Exception as exc:
            raise self.explain(exc, uri, "checking the destination") from exc
        others = [o["Key"] for o in response.get("Contents", [])]
        others += [
            p["Prefix"] for p in response.get("CommonPrefixes", []) if p["Prefix"] != folder + BLOBS + "/"
        ]
        if others:
            raise S3StorageError(
                f"{uri}: holds objects that are not a torchon bundle ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}); refusing to save a bundle among them: choose an empty "
                "prefix",
                "NotABundle",
            )

    def _upload_bundle(self, src: Path, bucket: str, prefix: str, uri: str) -> None:
        manifest_bytes = (src / MANIFEST).read_bytes()
        manifest = json.loads(manifest_bytes)
        algorithm = manifest.get("digest", "blake3")
        blobs: dict[str, tuple[Path, int]] = {}
        for name, record in manifest["files"].items():
            path = src / _safe_name(name, uri)
            if path.stat().st_size != record["size"]:
                raise S3StorageError(f"{src}: {name} changed after the manifest was written; not uploading")
            blobs[record[algorithm]] = (path, record["size"])
        blob_folder = _join(prefix, BLOBS + "/")
        previous = self._get(
            bucket, _join(prefix, MANIFEST), uri
        )  # also: the bucket exists, credentials work
        if previous is None:
            self._check_destination(bucket, prefix, uri)
        stored = {o["Key"]: o for o in self._list(bucket, blob_folder, uri)}
        todo = [
            (path, blob_folder + digest)
            for digest, (path, size) in blobs.items()
            if stored.get(blob_folder + digest, {}).get("Size") != size
        ]
        started = time.time()
        logger.info("%s: uploading %d of %d files", uri, len(todo), len(blobs))
        try:
            self._transfer(uri, "uploading the bundle", [("upload", (p, bucket, k)) for p, k in todo])
        except BaseException:
            self._abort_multipart(bucket, blob_folder, {k for _, k in todo}, started)
            raise
        try:
            self.client.put_object(
                Bucket=bucket,
                Key=_join(prefix, MANIFEST),
                Body=manifest_bytes,
                ContentType="application/json",
            )
        except Exception as exc:
            raise self.explain(exc, uri, f"writing {MANIFEST} (the bundle was not committed)") from exc
        keep = set(blobs)
        if previous is not None:
            try:
                old = json.loads(previous)
                keep |= {r[old.get("digest", "blake3")] for r in old["files"].values()}
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
        self._collect_garbage(bucket, blob_folder, stored, keep)

    def _abort_multipart(self, bucket: str, folder: str, keys: set[str], since: float) -> None:
        """Abort multipart uploads this save started and s3transfer could not abort (best effort)."""
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=folder)
            for page in pages:
                for upload in page.get("Uploads", []):
                    initiated = upload.get("Initiated")
                    if upload["Key"] in keys and (initiated is None or initiated.timestamp() >= since - 300):
                        self.client.abort_multipart_upload(
                            Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
        except Exception as exc:  # the original failure is what the user needs to see
            logger.warning("could not abort pending multipart uploads under %s/%s: %s", bucket, folder, exc)

    def _collect_garbage(
        self, bucket: str, folder: str, stored: Mapping[str, Mapping[str, Any]], keep: set[str]
    ) -> None:
        """Delete blobs no manifest of the last two saves names, once they are older than the grace period."""
        cutoff = time.time() - self.settings.gc_grace_seconds
        doomed = [
            key
            for key, obj in stored.items()
            if key[len(folder) :] not in keep and obj["LastModified"].timestamp() < cutoff
        ]
        for start in range(0, len(doomed), 1000):
            batch = doomed[start : start + 1000]
            try:
                self.client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            except Exception as exc:
                logger.warning(
                    "could not delete %d unused blobs under %s/%s: %s", len(batch), bucket, folder, exc
                )
                return
