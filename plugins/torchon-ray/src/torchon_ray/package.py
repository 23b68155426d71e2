"""What ``torchon submit`` ships: the config, its local extensions and resources, in one working folder.

Local-path extensions and local resources are copied under ``_ext/NAME`` and ``_res/NAME`` and the config's header
is rewritten to point at the copies, in place (same lines), so an error on the cluster names the line the user
wrote. PyPI extensions go to Ray's ``pip`` runtime environment; git extensions are cloned on the cluster
(``--install-extensions``). The package's digest, over every file shipped and how the run is started, names the
submission: submitting the same thing again finds the job already there.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchon.api import Config

__all__ = ["Package", "build_package"]

_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".git", ".venv", ".tox", "*.egg-info", ".pytest_cache"
)
_PLAIN_END = re.compile(r"\s+#|[,}\]]|\s*$")  # where an unquoted scalar ends, in block or flow style


@dataclass
class Package:
    """A working folder ready to upload, and what the job needs besides it."""

    folder: Path
    config_name: str
    pip: list[str] = field(default_factory=list)
    install_extensions: bool = False
    digest: str = ""


def _header_marks(config: Config) -> tuple[dict[str, Any], dict[str, Any]]:
    """Where each extension spec and resource path is written in the header: name -> Mark."""
    from torchon.api import CMap, TagNode, parse_documents

    docs = [d for d in parse_documents(config.text, config.filename) if d is not None]
    if len(docs) < 2:
        return {}, {}
    header = docs[0]
    extensions: Any = header
    resources: Any = None
    if isinstance(header, TagNode):
        extensions = header.kwargs.get("extensions")
        resources = header.kwargs.get("resources")
    ext_marks = dict(extensions.value_marks) if isinstance(extensions, CMap) else {}
    res_marks = dict(resources.value_marks) if isinstance(resources, CMap) else {}
    return ext_marks, res_marks


def _replace_scalar(lines: list[str], mark: Any, new: str) -> None:
    """Replace the YAML scalar starting at ``mark`` (1-based) with ``new``, double-quoted."""
    line = lines[mark.line - 1]
    start = mark.col - 1
    rest = line[start:]
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1) + 1 or len(rest)
    else:
        found = _PLAIN_END.search(rest)
        end = found.start() if found else len(rest)
    lines[mark.line - 1] = line[:start] + json.dumps(new) + rest[end:]


def _copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, dest, ignore=_IGNORE)
    else:
        shutil.copy2(source, dest)


def _digest(folder: Path, extra: Any) -> str:
    h = hashlib.sha256(json.dumps(extra, sort_keys=True, default=str).encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def build_package(config: Config, dest: Path, how: Any) -> Package:
    """Copy what ``config`` needs into ``dest`` (an empty folder); ``how`` (how the job starts) joins the digest."""
    dest.mkdir(parents=True, exist_ok=True)
    ext_marks, res_marks = _header_marks(config)
    lines = config.text.splitlines(keepends=True)
    edits: list[tuple[Any, str]] = []
    package = Package(dest, Path(config.filename).name)
    resolved = {r.name: r for r in config.resolved}
    for ext in config.extensions:
        if ext.kind == "local":
            source = Path(resolved[ext.name].path or ext.target)
            target = f"_ext/{ext.name}" + (source.suffix if source.is_file() else "")
            _copy(source, dest / target)
            if ext.name in ext_marks:
                edits.append((ext_marks[ext.name], f"./{target}"))
        elif ext.kind == "pypi":
            package.pip.append(ext.target)
        else:
            package.install_extensions = True
    for name, location in config.resources.items():
        if "://" in location:
            continue  # a URI every node fetches for itself
        source = Path(location)
        target = f"_res/{name}/{source.name}"
        _copy(source, dest / target)
        if name in res_marks:
            edits.append((res_marks[name], f"./{target}"))
    for mark, new in sorted(edits, key=lambda e: (e[0].line, -e[0].col)):
        _replace_scalar(lines, mark, new)
    (dest / package.config_name).write_text("".join(lines), encoding="utf-8")
    package.digest = _digest(dest, {"how": how, "pip": package.pip})
    return package
