"""Entry module of the torchon-s3 plugin: names only; boto3 is imported when an ``s3://`` URI is first used."""

from __future__ import annotations

from torchon.api import StorageRegistry, hookimpl


@hookimpl
def torchon_register_storage(storage: StorageRegistry) -> None:
    storage.add("s3", "torchon_s3.storage:S3Storage", help="Amazon S3 and S3-compatible servers (boto3)")
