"""``torchon.save(obj, uri)``: write a component tree as a bundle: ``config.yaml`` (how to rebuild the objects),
each object's state through its saver chain, then ``manifest.json`` last. Locally the bundle is written beside the
destination and swapped into place (:mod:`torchon.bundle.publish`); other schemes' storage backends upload the
finished folder, manifest last.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torchon import __version__, metrics
from torchon._component import ComponentBase
from torchon.bundle.chain import DEFAULT_SAVER, SaverRef, chain_for, in_place_types
from torchon.bundle.files import DIGEST, FileRecord, WriteFolder
from torchon.bundle.manifest import FORMAT, FORMAT_VERSION, MANIFEST, node_label
from torchon.bundle.publish import fsync_all, publish, staging_dir
from torchon.config.dump import DumpError, dump_tree, emit_yaml
from torchon.distributions import distribution_of, installed_version
from torchon.errors import UserError
from torchon.storage import LocalStorage, split_scheme, storage_for

__all__ = ["SaveError", "save"]


class SaveError(UserError):
    """The object cannot be saved as a bundle; the message says which part and why."""


def _needs_declaring(tag: str) -> str | None:
    """The module a tag names that must be declared as an extension to load again, if any."""
    from torchon.plugins import get_manager

    manager = get_manager()
    parts = tag.split(".")
    registered = tag in manager.tags or (len(parts) == 2 and parts[0] in manager.tags)
    in_namespace = any(".".join(parts[:cut]) in manager.namespaces for cut in range(1, len(parts)))
    return None if registered or in_namespace else parts[0]


def _local_source(module_name: str, location: Path) -> dict[str, Any]:
    """Where a module that is not installed comes from: its path, and the git commit as the run's lock has it."""
    from torchon.env import get_env
    from torchon.extensions.local import git_source

    resolved = get_env().resolved.get(module_name, {})
    source = {k: resolved[k] for k in ("commit", "dirty") if k in resolved}
    if resolved.get("path") != str(location) or not source:
        source = git_source(location)
    return {"kind": "local", "path": str(location), **source}


def _header(tags: set[str], extensions: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Extension specs for the modules the config names: an installed distribution pinned, else its folder (also
    described in ``extensions`` for the manifest: path and commit)."""
    header: dict[str, str] = {}
    for module_name in sorted({m for m in map(_needs_declaring, tags) if m}):
        if module_name == "__main__":
            raise SaveError(
                "classes defined in the script being run (module __main__) cannot be loaded by another process; "
                "move them into a module"
            )
        found = distribution_of(module_name)
        if found is not None:
            header[module_name] = f"{found[0]}=={found[1]}"
            continue
        module = sys.modules.get(module_name)
        file = getattr(module, "__file__", None)
        if file is None:
            raise SaveError(f"module {module_name!r} is neither installed nor a file; it cannot be declared")
        location = Path(file).resolve()
        location = location.parent if location.name == "__init__.py" else location
        header[module_name] = str(location)
        extensions[module_name] = _local_source(module_name, location)
    return header


def _class_record(cls: type) -> dict[str, Any]:
    record: dict[str, Any] = {"class": f"{cls.__module__}:{cls.__qualname__}"}
    found = distribution_of(cls.__module__)
    if found:
        record["distribution"], record["version"] = found
    if issubclass(cls, ComponentBase):
        record["VERSION"] = cls.VERSION
    return record


def _saver_record(ref: SaverRef) -> dict[str, Any]:
    from torchon.plugins import get_manager

    record: dict[str, Any] = {"name": ref.name, "safety": ref.safety, "protocol": ref.cls.protocol}
    info = get_manager().plugins.get(ref.plugin or "")
    if info is not None:
        record["distribution"], record["version"] = info.distribution, info.version
    return record


class _Writer:
    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self.files: dict[str, FileRecord] = {}
        self.nodes: list[dict[str, Any]] = []
        self.requirements: dict[str, str] = {"torchon": __version__}
        self.extensions: dict[str, dict[str, Any]] = {}  # modules the bundle names that are not installed
        self._in_place = in_place_types()
        self._typed: list[tuple[str, Any, SaverRef]] = []  # (path, object, type saver) already written

    def _covered(self, path: str, obj: Any, ref: SaverRef) -> str | None:
        """The path of an enclosing object that already saved ``obj`` with the same saver, if any."""
        for at, parent, parent_ref in self._typed:
            encloses = at == "" or path.startswith((at + ".", at + "["))
            if parent_ref.name == ref.name and path != at and encloses and ref.cls().covers(parent, obj):
                return at
        return None

    def write_node(self, path: str, obj: Any, attribute: str | None = None) -> None:
        folder = f"state/n{len(self.nodes)}"
        node = {"path": path, "attribute": attribute, "folder": folder, **_class_record(type(obj))}
        self.nodes.append(node)
        state = dict(obj.get_state()) if isinstance(obj, ComponentBase) and attribute is None else {}
        children = {k: v for k, v in state.items() if self._in_place and isinstance(v, self._in_place)}
        for key in children:
            del state[key]
        label = node_label(node)
        try:
            chain = chain_for(obj, state)
            used: list[SaverRef] = []
            for ref in reversed(chain):
                saver = ref.cls()
                if not saver.can_save(obj, state):
                    continue
                covering = self._covered(path, obj, ref) if attribute is None else None
                if covering is not None:
                    node["covered_by"] = covering  # a partial load of this path goes through that object
                    continue
                out = WriteFolder(self.staging / folder / ref.name, f"{folder}/{ref.name}", self.files)
                out.path.mkdir(parents=True, exist_ok=True)
                state = saver.save(obj, state, out)
                out.finish()
                used.append(ref)
                if attribute is None:
                    self._typed.append((path, obj, ref))
        except Exception as exc:
            raise SaveError(
                f"saving {label} ({type(obj).__qualname__}) failed: {type(exc).__name__}: {exc}"
            ) from exc
        if state:
            raise SaveError(
                f"saving {label}: state {sorted(state)} was left after the {DEFAULT_SAVER} saver; a saver returned "
                "parts it did not save"
            )
        node["savers"] = [_saver_record(ref) for ref in reversed(used)]
        for record in [*node["savers"], node]:
            if "distribution" in record:
                self.requirements[record["distribution"]] = record["version"]
        for key, child in children.items():
            self.write_node(path, child, attribute=key if attribute is None else f"{attribute}.{key}")

    def write_manifest(self) -> None:
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": _dt.datetime.now(_dt.UTC).isoformat(),
            "torchon": __version__,
            "digest": DIGEST,
            "nodes": self.nodes,
            "files": dict(sorted(self.files.items())),
            "requirements": dict(sorted(self.requirements.items())),
        }
        if self.extensions:
            manifest["extensions"] = dict(sorted(self.extensions.items()))
        # Everything the manifest lists is on disk before the manifest is: a bundle with a manifest is whole. (The
        # staging folder itself, holding the manifest's entry, is fsynced when it is published.)
        written = [p for p in self.staging.rglob("*") if p.is_file()]
        folders = {q for p in written for q in p.parents if q != self.staging and self.staging in q.parents}
        fsync_all(written + sorted(folders))
        path = self.staging / MANIFEST
        with open(path, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
            f.flush()
            os.fsync(f.fileno())


def _declared(requirements: Iterable[str]) -> dict[str, str]:
    """Extra requirements (``"scikit-learn>=1.3"``) as installed here: ``{distribution: version}``."""
    requirements = list(requirements)
    if not requirements:  # the usual case: importing packaging's parser costs ~60 ms, for nothing
        return {}
    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, str] = {}
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise SaveError(f"requirement {text!r} is not a valid requirement: {exc}") from None
        have = installed_version(req.name)
        if have is None:
            raise SaveError(f"requirement {text!r} is not installed here; install it, or drop it")
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            raise SaveError(f"requirement {text!r} is not met: {req.name} {have} is installed")
        found[req.name] = have
    return found


def _write_bundle(obj: Any, staging: Path, requirements: Iterable[str] = ()) -> None:
    try:
        dumped = dump_tree(obj)
    except DumpError as exc:
        raise SaveError(str(exc)) from exc
    writer = _Writer(staging)
    writer.requirements.update(_declared(requirements))
    if dumped.artifacts:  # files named with !artifact travel in the bundle: see torchon.bundle.artifacts
        from torchon.bundle import artifacts

        try:
            artifacts.carry_into(dumped.artifacts, staging, writer.files)
        except (OSError, ValueError) as exc:
            raise SaveError(str(exc)) from exc
    header = _header(dumped.tags, writer.extensions)
    WriteFolder(staging, "", writer.files).write_text("config.yaml", emit_yaml(dumped.tree, header))
    for path, node_obj in reversed(dumped.nodes):  # enclosing objects first, so nothing is saved twice
        writer.write_node(path, node_obj)
    writer.write_manifest()


def save(obj: Any, uri: str | os.PathLike[str], *, requirements: Iterable[str] = ()) -> str:
    """Save ``obj`` (a component tree) as a bundle at ``uri`` and return the URI.

    A local save replaces an existing bundle at ``uri`` in one step; an interrupted save leaves the previous
    bundle (or nothing) there, never part of one. ``requirements`` declares distributions the bundle needs beyond
    those of its classes and savers (``"scikit-learn>=1.3"``): each must be installed (and match), and is
    recorded with its installed version, so loading names it when it is missing.
    """
    uri = os.fspath(uri)
    metrics.flush()  # what was reported before a checkpoint is on disk before the checkpoint is
    scheme, _ = split_scheme(uri)
    if scheme == "file":
        dest = LocalStorage.local_path(uri).absolute()
        staging = staging_dir(dest)
        try:
            _write_bundle(obj, staging, requirements)
            publish(staging, dest)  # after an exchange, a background thread deletes the old bundle
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return uri
    backend = storage_for(uri)
    with tempfile.TemporaryDirectory(prefix="torchon-bundle-") as tmp:
        folder = Path(tmp) / "bundle"
        folder.mkdir()
        _write_bundle(obj, folder, requirements)
        backend.upload(folder, uri)
    return uri
