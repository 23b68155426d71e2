"""Writing a file so that a reader sees the old content or the new, never part of it: a temporary sibling, then
``os.replace``. Run records, locks, reports and checkpoints of searches are written this way."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_json"]


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, fsync: bool = False) -> Path:
    """Replace ``path`` with ``data`` in one step; ``fsync`` also makes it durable before the rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike[str], data: Any, *, fsync: bool = False) -> Path:
    """``data`` as indented JSON (values JSON cannot hold written with ``str``), atomically."""
    return write_atomic(path, json.dumps(data, indent=2, default=str) + "\n", fsync=fsync)
