"""Joining Ray: the cluster at ``RAY_ADDRESS`` (set by ``torchon submit`` inside a job), or a small local one.

Ray reads its token (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``) and ``RAY_AUTH_MODE`` from
the environment when it connects, so nothing here handles credentials.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Capacity", "capacity", "connect"]

LOCAL_OBJECT_STORE = 200 * 1024 * 1024  # trials exchange small JSON messages, not tensors


def connect() -> bool:
    """Join Ray unless this process already has; True when this call started a local Ray (to shut down later)."""
    import ray

    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        return False
    ray.init(
        address="local",
        include_dashboard=False,
        object_store_memory=LOCAL_OBJECT_STORE,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    return True


@dataclass(frozen=True)
class Capacity:
    """What the cluster holds: totals (for accounting), the largest node (for what can ever fit), host names."""

    total: Mapping[str, float]
    largest: Mapping[str, float]
    hosts: tuple[str, ...]


def capacity() -> Capacity:
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    total: dict[str, float] = {}
    largest: dict[str, float] = {}
    for node in nodes:
        for key, value in node.get("Resources", {}).items():
            total[key] = total.get(key, 0.0) + value
            largest[key] = max(largest.get(key, 0.0), value)
    hosts = tuple(sorted({str(n.get("NodeManagerHostname") or n.get("NodeManagerAddress")) for n in nodes}))
    return Capacity(total, largest, hosts)
