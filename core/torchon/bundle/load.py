"""``torchon.load(uri, trust=False)``: rebuild a bundle's objects and restore their state, safely.

Before a single object is built, the manifest is checked, every file accounted for, and every saver found in *this*
installation and checked against what the bundle claims (``code`` savers refused without ``trust=True``). Each file
is verified against its digest as it is read, once.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

from torchon._component import ComponentBase
from torchon.bundle.artifacts import loading
from torchon.bundle.chain import ChainError, SaverRef, find_saver
from torchon.bundle.files import BundleError, BundleIntegrityError, ReadFolder, check_file, digest_file
from torchon.bundle.manifest import MANIFEST, node_label, read_manifest
from torchon.config import ConfigError, load_config
from torchon.config.build import TreeBuilder
from torchon.config.nodes import TagNode, walk
from torchon.distributions import installed_version
from torchon.importing import TargetImportError, import_target
from torchon.run_folder import RunFolder
from torchon.storage import LocalStorage, split_scheme, storage_for

logger = logging.getLogger("torchon.bundle")

__all__ = [
    "BundleError",
    "BundleSafetyError",
    "BundleVersionError",
    "load",
    "load_from_path",
    "local_bundle",
    "verify",
]

T = TypeVar("T")


class BundleSafetyError(BundleError):
    """Loading would run code the caller has not trusted, or the bundle misstates what it holds."""


class BundleVersionError(BundleError):
    """A component was saved by a newer version of its class than the one installed."""


def local_bundle(uri: str, scratch: Path) -> Path:
    """A local folder holding the bundle at ``uri`` (downloaded into ``scratch`` when remote)."""
    scheme, _ = split_scheme(uri)
    if scheme == "file":
        from torchon.bundle.publish import recover

        folder = LocalStorage.local_path(uri)
        recover(folder.absolute())
        return folder
    return storage_for(uri).download(uri, scratch / "bundle")


def verify(folder: Path, manifest: dict[str, Any], where: str, *, digests: bool = False) -> None:
    """Every listed file is there with its size (and digest, if asked), and nothing unlisted is."""
    listed = manifest["files"]
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}
    for name in sorted(present - set(listed) - {MANIFEST}):
        raise BundleIntegrityError(
            f"{where}: {name} is not listed in the manifest (an extra or planted file)"
        )
    for name, record in sorted(listed.items()):
        path = folder / name
        if path.is_symlink():
            raise BundleIntegrityError(f"{where}: {name} is a link")
        if not path.is_file():
            raise BundleIntegrityError(f"{where}: {name} is missing")
        check_file(where, name, record, path.stat().st_size, digest_file(path) if digests else None)


def _only_for_artifacts(manifest: dict[str, Any], dist: str) -> bool:
    """Whether the bundle requires ``dist`` only because it provided ``!artifact`` when the bundle was saved:
    torchon-export did, before the kernel took the tag over, and its bundles need only the kernel for it now."""
    if dist != "torchon-export" or not any(n.startswith("artifacts/") for n in manifest.get("files", {})):
        return False
    nodes = manifest.get("nodes", [])
    records = [*nodes, *(saver for node in nodes for saver in node.get("savers", []))]
    return not any(record.get("distribution") == dist for record in records)


def _check_requirements(manifest: dict[str, Any], where: str) -> None:
    """Distributions the bundle needs that are not installed, named with the version to install."""
    missing, mismatched = [], []
    for dist, wanted in manifest.get("requirements", {}).items():
        installed = installed_version(dist)
        if installed is None and not _only_for_artifacts(manifest, dist):
            missing.append(f"{dist}=={wanted}")
        elif installed is not None and isinstance(wanted, str) and installed != wanted:
            mismatched.append(f"{dist} (saved with {wanted}, installed {installed})")
    if mismatched:  # usually fine; said so it is the first thing to look at when something differs
        logger.warning(
            "%s: loading with other versions than it was saved with: %s", where, ", ".join(mismatched)
        )
    if missing:
        one = len(missing) == 1
        raise BundleError(
            f"{where}: the bundle needs {', '.join(missing)}, which {'is' if one else 'are'} not installed; install "
            f"{'it' if one else 'them'}: pip install {' '.join(missing)}"
        )


def _savers_for(node: dict[str, Any], cls: type, trust: bool, where: str) -> list[SaverRef]:
    refs = []
    who = f"{where}: {node_label(node)}"
    for claim in node["savers"]:
        try:
            ref = find_saver(claim["name"], cls)
        except ChainError as exc:
            raise BundleError(f"{who}: {exc}") from exc
        if claim["safety"] != ref.safety:
            raise BundleSafetyError(
                f"{who}: the bundle says saver {ref.name!r} is {claim['safety']!r}, but the installed one is "
                f"{ref.safety!r}; refusing a bundle that misstates its savers"
            )
        if ref.safety == "code" and not trust:
            raise BundleSafetyError(
                f"{who} was saved with {ref.name!r}, a code saver: loading it can run code. Pass trust=True only if "
                "you trust whoever made this bundle"
            )
        if claim["protocol"] > ref.cls.protocol:
            raise BundleVersionError(
                f"{who}: saver {ref.name!r} wrote protocol {claim['protocol']}, newer than the installed one reads "
                f"({ref.cls.protocol}); upgrade {claim.get('distribution', 'its plugin')}"
            )
        refs.append(ref)
    return refs


def _saved_from(record: dict[str, Any]) -> str:
    """``/path/ext (git commit abc123, with uncommitted changes)``: where a local extension was saved from."""
    commit = record.get("commit")
    if not isinstance(commit, str):
        return str(record["path"])
    dirty = ", with uncommitted changes" if record.get("dirty") else ""
    return f"{record['path']} (git commit {commit[:12]}{dirty})"


def _import_extensions(manifest: dict[str, Any], trust: bool, allow: frozenset[str], where: str) -> None:
    """Import the local-path extensions the caller vouches for from where the bundle was saved, if not installed."""
    import importlib.util

    from torchon.extensions import ExtensionError
    from torchon.extensions.local import put_on_path

    for name, record in manifest.get("extensions", {}).items():
        if not (trust or name in allow) or not name.isidentifier() or importlib.util.find_spec(name):
            continue
        path = Path(record["path"])
        if not path.exists():
            raise BundleError(
                f"{where}: extension module {name!r} is not installed here, and the path the bundle was saved "
                f"from, {_saved_from(record)}, does not exist on this machine; install the package that provides "
                f"{name!r} (check out that commit and pip install it)"
            )
        try:
            put_on_path(name, str(path), path, str(path))
        except ExtensionError as exc:
            raise BundleError(f"{where}: {exc.what}; {exc.fix}") from exc


def _node_class(node: dict[str, Any], where: str, extensions: dict[str, Any]) -> type:
    try:
        cls = import_target(node["class"])
    except TargetImportError:
        module = node["class"].partition(":")[0].split(".")[0]
        record = extensions.get(module)
        if record is not None:
            source = "pip install it from that commit" if record.get("commit") else "pip install that folder"
            raise BundleError(
                f"{where}: {node_label(node)} is an object of {node['class']}, which is not importable here: module "
                f"{module!r} was a local extension where the bundle was saved, from {_saved_from(record)}. Install "
                f"the package that provides it ({source}); or, if you trust that code and the path exists here, "
                f"load with allow=[{module!r}] (torchon serve --allow {module}) or trust=True to import it from there"
            ) from None
        dist = node.get("distribution")
        need = f"{dist}=={node['version']}" if dist else "the package that provides it"
        raise BundleError(
            f"{where}: {node_label(node)} is a {node['class']}, which is not importable here; install {need}"
        ) from None
    if not isinstance(cls, type):
        raise BundleSafetyError(f"{where}: {node_label(node)}: {node['class']} is not a class")
    return cls


def _check_version(node: dict[str, Any], cls: type, where: str) -> None:
    saved = node.get("VERSION", 1)
    if not issubclass(cls, ComponentBase):
        return
    if not isinstance(saved, int) or saved < 1:
        raise BundleIntegrityError(f"{where}: {MANIFEST}: node {node_label(node)} has a malformed VERSION")
    if saved > cls.VERSION:
        owner = node.get("distribution")
        upgrade = owner + " to " + node["version"] if owner else "the package"
        raise BundleVersionError(
            f"{where}: {node_label(node)} was saved by {cls.__qualname__} VERSION {saved}, newer than the installed "
            f"VERSION {cls.VERSION}; upgrade {upgrade} or later"
        )


def _restore(
    obj: Any, node: dict[str, Any], refs: list[SaverRef], folder: Path, files: dict[str, Any], where: str
) -> None:
    cls = type(obj)
    state: dict[str, Any] = {}
    for ref in refs:
        prefix = f"{node['folder']}/{ref.name}"
        reader = ReadFolder(folder / prefix, prefix, files, where=where)
        try:
            state = ref.cls().load(obj, state, reader)
        except BundleIntegrityError:
            raise
        except Exception as exc:
            reader.finish()  # an altered file explains a failure best
            raise BundleError(
                f"{where}: restoring {node_label(node)} with saver {ref.name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        reader.finish()
    if node.get("attribute") or not isinstance(obj, ComponentBase):
        return
    saved = node.get("VERSION", 1)
    for version in range(saved, cls.VERSION):
        state = cls.upgrade_state(state, version)
    obj.set_state(state)


def load(
    uri: str | os.PathLike[str],
    *,
    trust: bool = False,
    path: str | None = None,
    allow: Iterable[str] = (),
) -> Any:
    """Load the bundle at ``uri``: its top object, or with ``path`` (``"model.encoder"``) just that part.

    By default a bundle's config builds only registered components, namespace classes and ``torchon.Component``
    subclasses of installed extensions, and runs no code saver. ``allow`` names top-level modules whose code the
    caller trusts: plain (non-Component) classes of those modules may be built, and such a module that is not
    installed is imported from the local path the bundle was saved from. ``trust=True`` trusts everything,
    ``code`` savers (pickle, joblib) included; give it only for bundles from people you trust.
    """
    where = uri = os.fspath(uri)
    allowed = frozenset([allow] if isinstance(allow, str) else allow)
    with tempfile.TemporaryDirectory(prefix="torchon-load-") as scratch:
        folder = local_bundle(uri, Path(scratch))
        manifest = read_manifest(folder, where)
        verify(folder, manifest, where)
        _check_requirements(manifest, where)
        files = manifest["files"]
        _import_extensions(manifest, trust, allowed, where)
        plans = []
        for node in manifest["nodes"]:
            cls = _node_class(node, where, manifest.get("extensions", {}))
            _check_version(node, cls, where)
            plans.append((node, cls, _savers_for(node, cls, trust, where)))
        config_text = ReadFolder(folder, "", files, where=where).read_text("config.yaml")
        try:
            config = load_config(f"{where}/config.yaml", text=config_text, untrusted=not trust, allow=allowed)
            tags = [n for n in walk(config.root) if isinstance(n, TagNode)]
            nodes = {n.path: n for n in reversed(tags)}  # the first object at each path
            if path is not None and path not in nodes:
                held = ", ".join(sorted(p or "(top)" for p in nodes))
                raise BundleError(f"{where}: no object at {path!r}; the bundle holds: {held}")
            # A part whose state an enclosing object saved (a layer inside a saved module) is built through it.
            start = path or ""
            by_path = {node["path"]: node for node in manifest["nodes"] if not node.get("attribute")}
            while by_path.get(start, {}).get("covered_by") is not None:
                start = by_path[start]["covered_by"]
            builder = TreeBuilder()
            with ExitStack() as stack:  # open until restored: savers may defer work the restore makes moot
                for saver_cls in {ref.cls for _, _, refs in plans for ref in refs}:
                    stack.enter_context(saver_cls.build_context())
                keep = split_scheme(uri)[0] != "file"
                stack.enter_context(loading(folder, files, where, keep=keep))  # !artifact: this bundle's copy
                builder.build(nodes[start])
                result = builder.built(nodes[path or ""])
                for node, cls, refs in plans:
                    tag_node = nodes.get(node["path"])
                    obj = builder.built(tag_node) if tag_node is not None else None
                    if obj is None:
                        continue  # not part of what was asked for
                    for attribute in filter(None, (node.get("attribute") or "").split(".")):
                        obj = getattr(obj, attribute)
                    if type(obj) is not cls:
                        rebuilt = f"{type(obj).__module__}:{type(obj).__qualname__}"
                        raise BundleError(
                            f"{where}: {node_label(node)} rebuilt as {rebuilt}, but the bundle saved a {node['class']}"
                        )
                    _restore(obj, node, refs, folder, files, where)
        except ConfigError as exc:
            raise BundleError(exc.format()) from exc
        return result


def load_from_path(cls: type[T], path: str, *, trust: bool = False, allow: Iterable[str] = ()) -> T:
    """:meth:`torchon.Component.load_from_path`: the object of ``cls`` in the bundle at ``path``, or in the newest
    bundle a run saved under its output folder ``path``."""
    local = Path(path)
    if "://" not in path and RunFolder.holds_run(local) and not (local / MANIFEST).is_file():
        bundles = sorted(local.rglob(MANIFEST), key=lambda p: p.stat().st_mtime)
        if not bundles:
            raise FileNotFoundError(f"{path} is a run's output but holds no bundle (saved with torchon.save)")
        path = str(bundles[-1].parent)
    top = load(path, trust=trust, allow=allow)
    found: list[Any] = []
    _find_instances(top, cls, found, set())
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise TypeError(
            f"{path} holds {what} {cls.__qualname__} objects (its top object is a {type(top).__qualname__}); "
            f"load_from_path needs exactly one"
        )
    return found[0]  # type: ignore[no-any-return]


def _find_instances(obj: Any, cls: type, found: list[Any], seen: set[int]) -> None:
    """Objects of ``cls`` in a component tree, by way of the arguments each component was built with."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, cls):
        found.append(obj)
        return
    values: Any = obj.get_config().values() if isinstance(obj, ComponentBase) else ()
    if isinstance(obj, Mapping):
        values = obj.values()
    elif isinstance(obj, (list, tuple)):
        values = obj
    for value in values:
        _find_instances(value, cls, found, seen)
