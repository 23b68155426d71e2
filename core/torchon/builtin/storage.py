"""Built-in storage: local paths and file:// URIs."""

from __future__ import annotations

from torchon.hookspecs import hookimpl
from torchon.registry import StorageRegistry


@hookimpl
def torchon_register_storage(storage: StorageRegistry) -> None:
    storage.add("file", "torchon.storage:LocalStorage", help="local paths and file:// URIs")
