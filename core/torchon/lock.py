"""``torchon.lock``: what a run's extensions resolved to and which distributions its classes came from.

Every ``torchon run`` writes one into its output folder; ``torchon run CONFIG --locked LOCKFILE`` installs the
extensions exactly as a lock records them (git at the commit, PyPI at the version) and refuses to run when the
installed plugins differ. The format is JSON, versioned by ``lock-version``; a reader refuses versions newer than
it knows. Version 1::

    {
      "lock-version": 1,
      "torchon": "0.1.0",                      # the kernel that wrote it
      "python": "3.11.7",
      "config": "exp.yaml",
      "overrides": ["train.optimizer.lr=0.003"],   # the command line's (torchon run exp.yaml OVERRIDE ...)
      "config-digest": "<64 hex>",             # BLAKE3 of the config as run (the run folder's config.yaml)
      "extensions": {                          # one entry per header line, as resolved
        "my_ext": {"kind": "git", "spec": "https://host/repo.git@dev", "url": "https://host/repo.git",
                   "ref": "dev", "commit": "<40 hex>", "distribution": "my-ext", "version": "0.2.0"},
        "other": {"kind": "pypi", "spec": "other>=1,<2", "distribution": "other", "version": "1.4.0"},
        "local_ext": {"kind": "local", "spec": "./ext", "path": "/abs/path/ext"}
      },
      "classes": {                             # every tag the config used -> where its class came from
        "!Script": {"target": "torchon_script.script:Script", "distribution": "torchon-script", "version": "0.1.0"},
        "!local_ext.Model": {"target": "local_ext:Model", "extension": "local_ext"}
      },
      "distributions": {"my-ext": "0.2.0", "torchon-script": "0.1.0"}   # the union of the above, name -> version
    }
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchon import __version__
from torchon.atomic import write_json
from torchon.config.errors import ConfigError, Mark
from torchon.config.nodes import TagNode, walk
from torchon.distributions import installed_version
from torchon.errors import UserError
from torchon.run_folder import RunFolder

if TYPE_CHECKING:
    from torchon.config import Config
    from torchon.extensions import ExtensionSpec

__all__ = ["LOCK_FILE", "LOCK_VERSION", "Lock", "LockError", "used_classes"]

LOCK_FILE = RunFolder.LOCK
LOCK_VERSION = 1


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
    from torchon.distributions import distribution_of

    found: dict[str, dict[str, str]] = {}
    for node in (n for n in walk(root) if isinstance(n, TagNode)):
        if node.target is None or node.label in found:
            continue
        target = _import_path(node.target)
        top = target.split(":", 1)[0].split(".", 1)[0]
        entry = {"target": target}
        if extensions and top in extensions:
            entry["extension"] = top
        provided = distribution_of(top)
        if provided is not None:
            entry.update(distribution=provided[0], version=provided[1])
        found[node.label] = entry
    return dict(sorted(found.items()))


@dataclass
class Lock:
    """A lock's contents (see the module docstring for the file format)."""

    extensions: dict[str, dict[str, Any]] = field(default_factory=dict)
    classes: dict[str, dict[str, str]] = field(default_factory=dict)
    distributions: dict[str, str] = field(default_factory=dict)
    torchon: str = __version__
    python: str = field(default_factory=lambda: sys.version.split()[0])
    config: str = ""
    overrides: list[str] = field(default_factory=list)
    config_digest: str = ""
    source: str = ""  # the file it was read from, for messages

    # -- making and storing ---------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: Config) -> Lock:
        """The lock of a loaded (resolved) config."""
        extensions = {r.name: r.to_dict() for r in config.resolved}
        classes = used_classes(config.root, extensions)
        distributions = {c["distribution"]: c["version"] for c in classes.values() if "distribution" in c}
        for entry in extensions.values():
            if entry.get("distribution") and entry.get("version"):
                distributions[entry["distribution"]] = entry["version"]
        import blake3

        return cls(
            extensions,
            classes,
            dict(sorted(distributions.items())),
            config=config.filename,
            overrides=list(config.overrides),
            config_digest=blake3.blake3(config.as_run().encode("utf-8")).hexdigest(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "lock-version": LOCK_VERSION,
            "torchon": self.torchon,
            "python": self.python,
            "config": self.config,
            "overrides": self.overrides,
            "config-digest": self.config_digest,
            "extensions": self.extensions,
            "classes": self.classes,
            "distributions": self.distributions,
        }

    def write(self, path: Path) -> Path:
        """Write the lock to ``path`` (a folder gets ``torchon.lock`` inside it), atomically."""
        if path.is_dir():
            path = path / LOCK_FILE
        return write_json(path, self.to_dict())

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
        for key in ("extensions", "classes", "distributions"):
            if not isinstance(data.get(key, {}), dict):
                raise LockError(f"lock file {path}: {key!r} must be a mapping")
        return cls(
            extensions=dict(data.get("extensions", {})),
            classes=dict(data.get("classes", {})),
            distributions=dict(data.get("distributions", {})),
            torchon=str(data.get("torchon", "")),
            python=str(data.get("python", "")),
            config=str(data.get("config", "")),
            overrides=[str(o) for o in data.get("overrides", [])],
            config_digest=str(data.get("config-digest", "")),
            source=str(path),
        )

    # -- replaying ------------------------------------------------------------------------------------------

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
                raise ConfigError(
                    f"extension {spec.name!r}: the config says {spec.spec!r} ({spec.kind}), the lock "
                    f"{self.source} was made from {entry.get('spec')!r} ({entry.get('kind')})",
                    spec.mark,
                    fix=fix,
                )
            pinned.append(spec.with_lock(entry))
        missing = sorted(set(self.extensions) - {s.name for s in specs})
        if missing:
            raise ConfigError(
                f"the lock {self.source} pins extension(s) {', '.join(missing)}, which the config does not declare",
                Mark(filename, 1, 1),
                fix=fix,
            )
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
