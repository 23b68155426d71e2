"""torchon-s3: ``s3://`` storage for bundles and artifacts. boto3 is imported only when an ``s3://`` URI is used."""

from __future__ import annotations

__all__ = ["S3Settings", "S3Storage"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from torchon_s3 import storage

        return getattr(storage, name)
    raise AttributeError(f"module 'torchon_s3' has no attribute {name!r}")
