"""``torchon inspect URI``: what a bundle holds, and whether it verifies — without building anything."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from torchon.api import Command

__all__ = ["InspectCommand", "describe_bundle"]


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def describe_bundle(manifest: dict[str, Any], uri: str) -> list[str]:
    """The human-readable listing of a manifest."""
    from torchon.api import installed_version, node_label

    lines = [
        f"bundle {uri}",
        f"  format {manifest['format']} v{manifest['format_version']}, written by torchon "
        f"{manifest.get('torchon', '?')} at {manifest.get('created', '?')}",
        "components:",
    ]
    for node in manifest["nodes"]:
        version = f" VERSION {node['VERSION']}" if "VERSION" in node else ""
        dist = f" [{node['distribution']} {node['version']}]" if node.get("distribution") else ""
        savers = (
            ", ".join(f"{s['name']} ({s['safety']}, protocol {s['protocol']})" for s in node["savers"]) or "-"
        )
        lines.append(f"  {node_label(node)}: {node['class']}{version}{dist}")
        lines.append(f"      savers: {savers}")
    code = sorted({s["name"] for n in manifest["nodes"] for s in n["savers"] if s["safety"] == "code"})
    lines.append(
        f"safety: code savers {', '.join(code)}: loading needs trust=True" if code else "safety: data only"
    )
    lines.append(f"files ({manifest['digest']}):")
    total = 0
    for name, record in manifest["files"].items():
        total += record["size"]
        lines.append(f"  {name}  {_size(record['size'])}  {record[manifest['digest']]}")
    lines.append(f"  total {_size(total)} in {len(manifest['files'])} files")
    lines.append("requirements:")
    for dist, wanted in manifest.get("requirements", {}).items():
        have = installed_version(dist)
        state = "ok" if have == wanted else ("NOT INSTALLED" if have is None else f"installed {have}")
        lines.append(f"  {dist}=={wanted}  ({state})")
    extensions = manifest.get("extensions", {})
    if extensions:
        lines.append("saved from local extensions (not installed where it was saved):")
        for name, record in extensions.items():
            commit = record.get("commit")
            source = f"git commit {commit}{' + uncommitted changes' if record.get('dirty') else ''}"
            lines.append(f"  {name}: {record['path']}  ({source if commit else 'not in a git work tree'})")
    return lines


class InspectCommand(Command):
    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Print what a bundle holds (components, versions, savers and their safety, files, sizes, digests, "
            "requirements) and check every file against its digest. Nothing is built or imported. "
            "Exit status: 0 verifies, 1 does not."
        )
        parser.add_argument(
            "uri", metavar="URI", help="a bundle: a local folder, file://, or a plugin's scheme"
        )
        parser.add_argument(
            "--no-verify", action="store_true", help="skip reading every file to check digests"
        )

    def run(self, args: argparse.Namespace) -> int:
        from torchon.api import BundleIntegrityError, local_bundle, read_manifest, verify

        with tempfile.TemporaryDirectory(prefix="torchon-inspect-") as scratch:
            try:
                folder = local_bundle(args.uri, Path(scratch))
                manifest = read_manifest(folder, args.uri)
            except OSError as exc:
                print(f"torchon: error: {exc}", file=sys.stderr)
                return 1
            print("\n".join(describe_bundle(manifest, args.uri)))
            if args.no_verify:
                print("verification: skipped")
                return 0
            try:
                verify(folder, manifest, args.uri, digests=True)
            except BundleIntegrityError as exc:
                print(f"verification: FAILED: {exc}")
                return 1
            print(f"verification: ok ({len(manifest['files'])} files match their digests, nothing extra)")
            return 0
