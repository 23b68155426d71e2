"""Reading ``torchon`` entry points from installed distributions' metadata, fast.

``importlib.metadata`` imports ``email``, ``zipfile`` and more (about 30 ms), too slow for ``torchon --help``. So
for folders on ``sys.path`` this reads ``*.dist-info`` / ``*.egg-info`` files directly, in ``sys.path`` order,
the first distribution of a name winning, as ``importlib.metadata`` does (a test checks both agree); anything
else on ``sys.path`` (a zip file) falls back to ``importlib.metadata``.
"""

from __future__ import annotations

import os
import re
import sys
from typing import NamedTuple

__all__ = ["EntryPoint", "entry_points"]

_NORMALIZE = re.compile(r"[-_.]+")


class EntryPoint(NamedTuple):
    """One entry point: its name and value, and the distribution (name, version) declaring it."""

    name: str
    value: str
    distribution: str
    version: str


def _read(path: str, size: int = -1) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(size)
    except OSError:
        return None


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """``name = value`` lines of ``[group]`` in an ``entry_points.txt``."""
    items: list[tuple[str, str]] = []
    inside = False
    for line in map(str.strip, text.splitlines()):
        if line.startswith("["):
            inside = line == f"[{group}]"
        elif inside and "=" in line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            items.append((name.strip(), value.strip()))
    return items


def _header(folder: str) -> tuple[str, str] | None:
    """(Name, Version) from the headers of METADATA / PKG-INFO."""
    for filename in ("METADATA", "PKG-INFO"):
        fields: dict[str, str] = {}
        for line in (_read(os.path.join(folder, filename), 4096) or "").splitlines():
            if not line:
                break  # end of the headers
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        if fields.get("Name"):
            return fields["Name"], fields.get("Version", "")
    return None


def _from_folder(folder: str, group: str, seen: set[str], found: list[EntryPoint]) -> None:
    try:
        names = sorted(e for e in os.listdir(folder) if e.endswith((".dist-info", ".egg-info")))
    except OSError:
        return
    for entry in names:
        stem = entry.rsplit(".", 1)[0].split("-", 1)[0]
        key = _NORMALIZE.sub("_", stem).lower()
        if key in seen:
            continue
        seen.add(key)
        meta = os.path.join(folder, entry)
        items = _section(_read(os.path.join(meta, "entry_points.txt")) or "", group)
        if items:
            name, version = _header(meta) or (stem, "")
            found.extend(EntryPoint(n, value, name, version) for n, value in items)


def _from_other(path: str, group: str, seen: set[str], found: list[EntryPoint]) -> None:
    from importlib.metadata import distributions

    for dist in distributions(path=[path]):
        name = dist.metadata["Name"] or "?"
        key = _NORMALIZE.sub("_", name).lower()
        if key not in seen:
            seen.add(key)
            found.extend(
                EntryPoint(ep.name, ep.value, name, dist.version)
                for ep in dist.entry_points
                if ep.group == group
            )


def entry_points(group: str, path: list[str] | None = None) -> list[EntryPoint]:
    """Entry points of ``group`` in the distributions on ``path`` (default ``sys.path``)."""
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for item in sys.path if path is None else path:
        folder = item or "."
        if os.path.isdir(folder):
            _from_folder(folder, group, seen, found)
        elif os.path.exists(folder):
            _from_other(folder, group, seen, found)
    return found
