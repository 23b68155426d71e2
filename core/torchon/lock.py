"""``torchon.lock``: what a run's extensions resolved to and which distributions its classes came from, written
into every run folder so ``torchon run CONFIG --locked LOCKFILE`` can install the same again and refuse a different
installation. JSON, versioned by ``lock-version`` (a reader refuses newer versions); the keys are described in
docs/extensions.md."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchon import __version__
from torchon.atomic import write_json
from torchon.config.errors import ConfigError, Mark
from torchon.config.nodes import TagNode, walk
from torchon.distributions import distribution_of, installed_version
from torchon.errors import UserError
from torchon.run_folder import RunFolder

if TYPE_CHECKING:
    from torchon.config import Config
    from torchon.extensions import ExtensionSpec

__all__ = ["LOCK_FILE", "LOCK_VERSION", "Lock", "LockError", "used_classes"]

LOCK_FILE = RunFolder.LOCK
LOCK_VERSION = 1
_TABLES = ("extensions", "classes", "distributions")


class LockError(UserError):
    """A lock file cannot be read; the message names the file and what is wrong."""

    exit_code = 2


def _import_path(target: Any) -> str:
    """``module:qualname`` of a class, function or bound classmethod."""
    owner = getattr(target, "__self__", None)
    if isinstance(owner, type):
        return f"{owner.__module__}:{owner.__qualname__}.{target.__name__}"
    module = getattr(target, "__module__", None) or type(target).__module__
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}:{name}"


def used_classes(root: TagNode, extensions: Mapping[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """Each tag a resolved config tree uses -> its target, and the distribution (and version) or the
    extension it comes from. ``extensions`` are the header's extension names."""
    found: dict[str, dict[str, str]] = {}
    for node in (n for n in walk(root) if isinstance(n, TagNode)):
        if node.target is None or node.label in found:
            continue
        target = _import_path(node.target)
        top = target.split(":", 1)[0].split(".", 1)[0]
        entry = {"target": target}
        if extensions and top in extensions:
            entry["extension"] = top
        if (provided := distribution_of(top)) is not None:
            entry.update(distribution=provided[0], version=provided[1])
        found[node.label] = entry
    return dict(sorted(found.items()))


@dataclass
class Lock:
    """A lock's contents, its fields in the file's order (``config_digest`` is ``config-digest``)."""

    torchon: str = __version__
    python: str = field(default_factory=lambda: sys.version.split()[0])
    config: str = ""
    overrides: list[str] = field(default_factory=list)
    config_digest: str = ""
    extensions: dict[str, dict[str, Any]] = field(default_factory=dict)
    classes: dict[str, dict[str, str]] = field(default_factory=dict)
    distributions: dict[str, str] = field(default_factory=dict)
    source: str = ""  # the file it was read from, for messages

    @classmethod
    def from_config(cls, config: Config) -> Lock:
        """The lock of a loaded (resolved) config."""
        import blake3

        lock = cls(config=config.filename, overrides=list(config.overrides))
        lock.config_digest = blake3.blake3(config.as_run().encode("utf-8")).hexdigest()
        lock.extensions = {r.name: r.to_dict() for r in config.resolved}
        lock.classes = used_classes(config.root, lock.extensions)
        found = {c["distribution"]: c["version"] for c in lock.classes.values() if "distribution" in c}
        for entry in lock.extensions.values():
            if entry.get("distribution") and entry.get("version"):
                found[entry["distribution"]] = entry["version"]
        lock.distributions = dict(sorted(found.items()))
        return lock

    def to_dict(self) -> dict[str, Any]:
        data = {f.name.replace("_", "-"): getattr(self, f.name) for f in fields(self) if f.name != "source"}
        return {"lock-version": LOCK_VERSION, **data}

    def write(self, path: Path) -> Path:
        """Write the lock to ``path`` (a folder gets ``torchon.lock`` inside it), atomically."""
        return write_json(path / LOCK_FILE if path.is_dir() else path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> Lock:
        """Read a lock file; :class:`LockError` says what is wrong with it."""
        path = Path(path)
        if path.is_dir():
            path = path / LOCK_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LockError(f"lock file {path} does not exist") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise LockError(f"lock file {path} cannot be read as JSON: {exc}") from None
        if not isinstance(data, dict) or "lock-version" not in data:
            raise LockError(f"{path} is not a torchon lock (it has no lock-version)")
        version = data["lock-version"]
        if not isinstance(version, int) or version > LOCK_VERSION:
            raise LockError(
                f"lock file {path} has lock-version {version!r}; this torchon ({__version__}) reads up to "
                f"{LOCK_VERSION}: upgrade torchon"
            )
        for key in _TABLES:
            if not isinstance(data.get(key, {}), dict):
                raise LockError(f"lock file {path}: {key!r} must be a mapping")
        torchon, python, config = (str(data.get(key, "")) for key in ("torchon", "python", "config"))
        extensions, classes, distributions = (dict(data.get(key, {})) for key in _TABLES)
        overrides = [str(o) for o in data.get("overrides", [])]
        digest = str(data.get("config-digest", ""))
        return cls(torchon, python, config, overrides, digest, extensions, classes, distributions, str(path))

    def pin(self, specs: list[ExtensionSpec], filename: str) -> list[ExtensionSpec]:
        """The header's extensions with this lock's entries attached; a :class:`ConfigError` where the header
        and the lock disagree (an extension added, dropped, or given another spec since the lock was written)."""
        fix = "run without --locked to resolve the header again (and write a new lock), or use the config the lock was made from"
        pinned = []
        for spec in specs:
            entry = self.extensions.get(spec.name)
            if entry is None:
                raise ConfigError(
                    f"extension {spec.name!r} is not in the lock {self.source}", spec.mark, fix=fix
                )
            if entry.get("spec") != spec.spec or entry.get("kind") != spec.kind:
                what = (
                    f"extension {spec.name!r}: the config says {spec.spec!r} ({spec.kind}), the lock "
                    f"{self.source} was made from {entry.get('spec')!r} ({entry.get('kind')})"
                )
                raise ConfigError(what, spec.mark, fix=fix)
            pinned.append(spec.with_lock(entry))
        missing = sorted(set(self.extensions) - {s.name for s in specs})
        if missing:
            what = (
                f"the lock {self.source} pins extension(s) {', '.join(missing)}, which the config does not "
                "declare"
            )
            raise ConfigError(what, Mark(filename, 1, 1), fix=fix)
        return pinned

    def differences(self, current: Lock) -> list[str]:
        """What differs between this lock and what a run resolved and uses now (``current``), one line each."""
        lines = []
        for name, entry in self.extensions.items():
            now = current.extensions.get(name, {})
            for key in ("commit", "version"):
                if entry.get(key) and now.get(key) != entry.get(key):
                    lines.append(
                        f"extension {name}: {key} {now.get(key) or 'none'}, the lock has {entry[key]}"
                    )
        for dist, version in self.distributions.items():
            installed = installed_version(dist)
            if installed != version:
                lines.append(f"{dist}: {installed or 'not installed'}, the lock has {version}")
        for dist, version in current.distributions.items():
            if dist not in self.distributions:
                lines.append(f"{dist} {version}: the config uses it, the lock does not list it")
        return lines
