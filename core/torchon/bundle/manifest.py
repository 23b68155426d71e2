"""``manifest.json``: what a bundle holds, written last (it is the commit marker), checked first.

Format (``format_version`` 1)::

    {"format": "torchon.bundle", "format_version": 1, "created": ISO time, "torchon": version,
     "digest": "blake3",
     "nodes": [{"path": "model", "attribute": null, "folder": "state/n1", "class": "pkg.mod:Class",
                "distribution": "pkg", "version": "1.0", "VERSION": 2,
                "savers": [{"name": "json", "safety": "data", "protocol": 1, "distribution": "torchon",
                            "version": "0.1.0"}]}],
     "files": {"config.yaml": {"size": 120, "blake3": "..."}, ...},
     "requirements": {"torchon": "0.1.0", "pkg": "1.0"},
     "extensions": {"my_ext": {"kind": "local", "path": "/abs/my_ext", "commit": "<40 hex>", "dirty": false}}}

``path`` is the object's place in ``config.yaml`` ("" for the top); ``attribute`` is set for objects a component
made itself (its weights module), restored in place. ``extensions`` (optional) describes the modules that were not
installed when the bundle was saved: where they were imported from, and the git commit of that folder if any.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torchon.bundle.files import DIGEST, BundleIntegrityError

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "node_label", "read_manifest"]

FORMAT = "torchon.bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def _require(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise BundleIntegrityError(f"{where}: {MANIFEST} is malformed: {what}")


def read_manifest(folder: Path, where: str) -> dict[str, Any]:
    """Read and check the structure of ``folder/manifest.json``; ``where`` names the bundle in errors."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleIntegrityError(
            f"{where}: no {MANIFEST}: not a torchon bundle, or a save that did not finish (nothing was committed)"
        )
    try:
        manifest = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleIntegrityError(f"{where}: {MANIFEST} is not valid JSON ({exc})") from None
    _require(isinstance(manifest, dict), where, "not a JSON object")
    _require(manifest.get("format") == FORMAT, where, f"format is {manifest.get('format')!r}, not {FORMAT!r}")
    version = manifest.get("format_version")
    _require(isinstance(version, int), where, "format_version is missing")
    if version > FORMAT_VERSION:
        raise BundleIntegrityError(
            f"{where}: bundle format {version} is newer than this torchon reads ({FORMAT_VERSION}); upgrade torchon "
            f"(the bundle was written by torchon {manifest.get('torchon', '?')})"
        )
    digest = manifest.get("digest")
    _require(digest == DIGEST, where, f"digest algorithm {digest!r} is unknown")
    files = manifest.get("files")
    _require(isinstance(files, dict) and "config.yaml" in files, where, "files must list config.yaml")
    for name, record in files.items():
        ok = isinstance(record, dict) and isinstance(record.get("size"), int)
        ok = ok and isinstance(record.get(DIGEST), str)
        _require(ok, where, f"file entry {name!r} needs size and {DIGEST}")
    extensions = manifest.get("extensions", {})
    ok = isinstance(extensions, dict) and all(
        isinstance(e, dict) and isinstance(e.get("path"), str) for e in extensions.values()
    )
    _require(ok, where, "extensions must map module names to objects with a path")
    nodes = manifest.get("nodes")
    _require(isinstance(nodes, list), where, "nodes must be a list")
    for node in nodes:
        _require(isinstance(node, dict), where, "a node is not an object")
        ok = isinstance(node.get("path"), str) and isinstance(node.get("class"), str)
        _require(ok, where, "node without path/class")
        _require(isinstance(node.get("folder"), str), where, f"node {node.get('path')!r} has no folder")
        savers = node.get("savers")
        _require(isinstance(savers, list), where, f"node {node.get('path')!r} has no saver list")
        for saver in savers:
            ok = isinstance(saver, dict) and isinstance(saver.get("name"), str)
            ok = ok and saver.get("safety") in ("data", "code") and isinstance(saver.get("protocol"), int)
            _require(ok, where, f"node {node.get('path')!r} has a malformed saver entry")
    _require(isinstance(manifest.get("requirements", {}), dict), where, "requirements must be an object")
    return manifest


def node_label(node: dict[str, Any]) -> str:
    """How messages name a node: its config path (or "(top)"), plus the attribute."""
    path = node.get("path") or "(top)"
    return f"{path}.{node['attribute']}" if node.get("attribute") else path
