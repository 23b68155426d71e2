"""Reading ``torchon`` entry points from installed distributions' metadata, fast.

``importlib.metadata`` imports the ``email`` package, ``zipfile`` and more (about 30 ms here), which alone would
take ``torchon --help`` past its startup budget. Entry points are plain files, so for folders on ``sys.path`` this
module reads ``*.dist-info/entry_points.txt`` and ``*.egg-info/entry_points.txt`` directly, in ``sys.path``
order, first distribution of a name winning, as ``importlib.metadata`` does. Anything else on ``sys.path`` (a
zip file) falls back to ``importlib.metadata``. A test checks both agree.
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


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """``name = value`` lines of ``[group]`` in an ``entry_points.txt``."""
    items: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            inside = line == f"[{group}]"
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            items.append((name.strip(), value.strip()))
    return items


def _header(folder: str) -> tuple[str, str] | None:
    """(Name, Version) from the first lines of METADATA / PKG-INFO."""
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(folder, filename), encoding="utf-8") as f:
                head = f.read(4096)
        except OSError:
            continue
        name = version = ""
        for line in head.splitlines():
            if not line:
                break  # end of the headers
            if line.startswith("Name:"):
                name = line[5:].strip()
            elif line.startswith("Version:"):
                version = line[8:].strip()
        if name:
            return name, version
    return None


def _from_folder(folder: str, group: str, seen: set[str], found: list[EntryPoint]) -> None:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    for entry in names:
        if not entry.endswith((".dist-info", ".egg-info")):
            continue
        meta = os.path.join(folder, entry)
        key = _NORMALIZE.sub("_", entry.rsplit(".", 1)[0].split("-", 1)[0]).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            with open(os.path.join(meta, "entry_points.txt"), encoding="utf-8") as f:
                items = _section(f.read(), group)
        except OSError:
            continue
        if not items:
            continue
        header = _header(meta) or (entry.rsplit(".", 1)[0].split("-", 1)[0], "")
        found.extend(EntryPoint(name, value, header[0], header[1]) for name, value in items)


def _from_other(path: str, group: str, seen: set[str], found: list[EntryPoint]) -> None:
    from importlib.metadata import distributions

    for dist in distributions(path=[path]):
        name = dist.metadata["Name"] or "?"
        key = _NORMALIZE.sub("_", name).lower()
        if key in seen:
            continue
        seen.add(key)
        found.extend(
            EntryPoint(ep.name, ep.value, name, dist.version) for ep in dist.entry_points if ep.group == group
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
