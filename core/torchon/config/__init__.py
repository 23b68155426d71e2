"""Loading torchon configs: header, tags, links, validation, building.

``load_config(path)`` parses and checks everything that can be checked without building (YAML, tags, links,
arguments against signatures, extensions) and returns a :class:`Config`; ``Config.build()`` makes the objects.
Every problem is a :class:`ConfigError` carrying ``FILE:LINE:COL`` and a fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchon.config.errors import COMMAND_LINE, ConfigError, Mark, did_you_mean
from torchon.config.nodes import CList, CMap, LinkNode, TagNode

if TYPE_CHECKING:
    from torchon._component import ComponentBase
    from torchon.env import Environment
    from torchon.extensions import ExtensionSpec, ResolvedExtension
    from torchon.lock import Lock
    from torchon.plugins import PluginManager

__all__ = ["Built", "Config", "ConfigError", "Mark", "load_config", "loads"]

ENVIRONMENT_FIELDS = ("extensions", "resources", "debug", "install", "track")
_TOP_FIX = "start the document with the tag of the runnable: `!Name` on the first line, its arguments below"


@dataclass
class Built:
    """The result of building a config: the top object and every component, dependencies first."""

    root: Any
    components: list[ComponentBase]


@dataclass
class Config:
    """A parsed and checked config, ready to build."""

    root: TagNode
    filename: str
    text: str
    extensions: list[ExtensionSpec] = field(default_factory=list)
    resolved: list[ResolvedExtension] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)
    debug: bool = False
    install: bool = False  # the header's `install: true`: as if --install-extensions were given
    track: str | None = None  # the header's `track: mlflow`: as --track says (which wins when given)
    overrides: list[str] = field(default_factory=list)  # the command line's, as given (run CONFIG a.b=1)
    header: Any = None  # the header document as parsed (extensions, or !Environment), if any

    @property
    def sources(self) -> dict[str, str]:
        """The text of each source errors can point into, by the name their marks give."""
        return _sources(self.filename, self.text, self.overrides)

    def as_run(self) -> str:
        """The config as it runs: the file's text, or with overrides, the tree they made written as YAML (headed
        by a comment naming the file and the overrides)."""
        if not self.overrides:
            return self.text
        from torchon.config.dump import emit_nodes

        comment = "".join(f"#   {o}\n" for o in self.overrides)
        tree = emit_nodes(self.root, self.header)
        return f"# {self.filename} with the command line's overrides:\n{comment}{tree}"

    def build(self) -> Built:
        """Build the objects. Errors raised while constructing them carry the position of their tag."""
        from torchon.config.build import TreeBuilder

        builder = TreeBuilder(self)
        try:
            root = builder.build(self.root)
        except ConfigError as exc:
            raise exc.attach_source(self.sources) from exc.__cause__
        return Built(root, builder.components)

    def environment(self, base: Environment) -> Environment:
        """``base`` with this config's extensions and resources added."""
        return base.replace(
            extensions={**base.extensions, **{e.name: e.spec for e in self.extensions}},
            resolved={**base.resolved, **{r.name: r.to_dict() for r in self.resolved}},
            resources={**base.resources, **self.resources},
            debug=base.debug or self.debug,
            extra={"track": self.track, **base.extra} if self.track else base.extra,
        )


def _sources(filename: str, text: str, overrides: Sequence[str]) -> dict[str, str]:
    """The config file's text and the command line's overrides (one a line), by the names marks give them."""
    return {filename: text, COMMAND_LINE: "\n".join(overrides)}


def loads(text: str, filename: str = "<config>", **kwargs: Any) -> Config:
    """Load a config from a string (``filename`` is what errors name; relative paths start at the cwd)."""
    return load_config(filename, text=text, **kwargs)


def load_config(
    path: str | Path,
    *,
    text: str | None = None,
    manager: PluginManager | None = None,
    install: bool = False,
    untrusted: bool = False,
    allow: Iterable[str] = (),
    locked: Lock | None = None,
    overrides: Sequence[str] = (),
) -> Config:
    """Parse and check the config at ``path`` (or ``text``, naming it ``path`` in errors), changed first by
    ``overrides`` (through the ``torchon_apply_overrides`` hook: torchon-overrides). ``untrusted`` configs (a
    bundle's) import no local-path extension from where they say, and their extension classes must be components;
    ``install`` lets git and PyPI extensions be installed, ``locked`` (a :class:`torchon.lock.Lock`) exactly as
    it records."""
    from torchon.config.resolve import Resolver
    from torchon.config.validate import validate
    from torchon.config.yaml_loader import parse_documents
    from torchon.plugins import PluginConflictError, get_manager

    allow = frozenset(allow)
    filename = str(path)
    if text is not None:
        base_dir = Path.cwd()
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file {filename} does not exist", None, fix="check the path") from None
        except (OSError, UnicodeDecodeError) as exc:
            what = f"cannot read config file {filename}: {exc}"
            raise ConfigError(what, None, fix="check the file") from None
        base_dir = Path(path).resolve().parent
    manager = manager or get_manager()
    try:
        manager.check_conflicts(("tags", "namespaces", "resolvers"))
    except PluginConflictError as exc:
        fix = "uninstall one of the two plugins, or leave one out with -p no:NAME or TORCHON_DENY_PLUGINS"
        raise ConfigError(f"installed plugins clash: {exc}", None, fix=fix) from None
    try:
        aliases: dict[Mark, list[tuple[Any, Any]]] = {}
        header, root = _split_documents(parse_documents(text, filename, aliases), filename)
        config = Config(root, filename, text, overrides=list(overrides), header=header)
        if overrides:
            _apply_overrides(manager, root, overrides, aliases)
        if header is not None:
            _read_header(config, header, base_dir)
        if locked is not None:  # --locked: install exactly what the lock records
            config.extensions = locked.pin(config.extensions, filename)
        _resolve_extensions(config, manager, install or config.install, untrusted, allow)
        names = [e.name for e in config.extensions]
        Resolver(manager, names, components_only=untrusted, allow=allow).resolve(root)
        if root.kind == "value":
            what = f"the config's top level must be a tagged object, not the value tag {root.label}"
            raise ConfigError(what, root.mark, fix=_TOP_FIX)
        validate(root)
    except ConfigError as exc:
        if overrides and exc.mark is not None and exc.mark.file != COMMAND_LINE:
            exc.fix += f" (the config was changed by the command line's overrides: {' '.join(overrides)})"
        raise exc.attach_source(_sources(filename, text, overrides)) from exc.__cause__
    return config


def _apply_overrides(manager: PluginManager, root: TagNode, overrides: Sequence[str], aliases: Any) -> None:
    """Let the plugin that implements overrides change the tree; an error naming it when none is loaded."""
    if manager.call("torchon_apply_overrides", root=root, overrides=list(overrides), aliases=aliases):
        return
    from torchon.first_party import first_party

    dist = first_party("hookimpls", "torchon_apply_overrides")
    what = f"command-line overrides ({' '.join(overrides)}) come with the {dist} plugin, which is not installed or not loaded"
    fix = f"install {dist} (pip install {dist}), or check that -p or TORCHON_DENY_PLUGINS does not leave it out; or edit the config instead"
    raise ConfigError(what, Mark(COMMAND_LINE, 1, 1), fix=fix)


def _split_documents(docs: list[Any], filename: str) -> tuple[Any, TagNode]:
    docs = [d for d in docs if d is not None]
    if not docs:
        fix = "write the object to run, for example `!Script {path: train.py}`"
        raise ConfigError("the config is empty", Mark(filename, 1, 1), fix=fix)
    if len(docs) > 2:
        what = f"the config has {len(docs)} YAML documents; it may have at most two (a header, then the object to run)"
        fix = "merge the extra documents, or remove the `---` lines that split them"
        raise ConfigError(what, _mark_of(docs[2], filename), fix=fix)
    if not isinstance(docs[-1], TagNode):
        what = "the config's top level must be a tagged object, such as `!Script` or `!Trainer`"
        raise ConfigError(what, _mark_of(docs[-1], filename), fix=_TOP_FIX)
    return (docs[0] if len(docs) == 2 else None), docs[-1]


def _mark_of(value: Any, filename: str) -> Mark:
    return getattr(value, "mark", None) or Mark(filename, 1, 1)


def _read_header(config: Config, header: Any, base_dir: Path) -> None:
    from torchon.extensions import ExtensionSpec, classify_spec

    if isinstance(header, TagNode) and header.tag == "Environment":
        extensions = _read_environment(config, header, base_dir)
    elif isinstance(header, CMap):
        extensions = header
    else:
        what = (
            "the first of two documents must be the extensions header: a mapping of module name to spec, or "
            "!Environment"
        )
        fix = "write `my_ext: ./path/to/ext` lines, or `!Environment` with `extensions:`, before the `---`"
        raise ConfigError(what, _mark_of(header, config.filename), fix=fix)
    marks = extensions.value_marks if isinstance(extensions, CMap) else {}
    key_marks = extensions.key_marks if isinstance(extensions, CMap) else {}
    for name, spec in extensions.items():
        mark = key_marks.get(name)
        if not isinstance(name, str) or not name.isidentifier():
            fix = "the key must be the top-level module the extension provides (letters, digits, underscores)"
            raise ConfigError(f"extension name {name!r} is not a Python module name", mark, fix=fix)
        mark = marks.get(name, mark)
        if not isinstance(spec, str) or not spec.strip():
            what = f"extension {name!r} needs a spec: a local path, a git URL or a PyPI requirement"
            fix = (
                f"write `{name}: ./path/to/{name}`, `{name}: https://host/repo.git` or `{name}: package==1.0`"
            )
            raise ConfigError(what, mark, fix=fix)
        kind, target = classify_spec(spec)
        config.extensions.append(ExtensionSpec(name, spec.strip(), kind, target, base_dir, mark))


def _read_environment(config: Config, header: TagNode, base_dir: Path) -> Any:
    """Read ``!Environment``'s fields into ``config``; its extensions are returned for the header to read."""
    fields, names = header.kwargs, ", ".join(ENVIRONMENT_FIELDS)
    if header.form != "mapping":
        fix = f"write its fields ({names}) as keys under it"
        raise ConfigError("!Environment takes a mapping of fields", header.mark, fix=fix)
    for key in fields:
        if key not in ENVIRONMENT_FIELDS:
            what = f"!Environment has no field {key!r}{did_you_mean(str(key), ENVIRONMENT_FIELDS)}"
            raise ConfigError(what, header.key_mark(key), fix=f"its fields are: {names}")
    extensions = fields.get("extensions") or {}
    if not isinstance(extensions, dict):
        what = "!Environment's extensions must be a mapping of module name to spec"
        fix = "write `extensions: {my_ext: ./path/to/ext}`"
        raise ConfigError(what, header.arg_mark("extensions"), fix=fix)
    _read_resources(config, fields.get("resources"), header.arg_mark("resources"), base_dir)
    config.debug = _flag(header, "debug", fix="write debug: true")
    fix = "write install: true to install missing extensions (as --install-extensions does)"
    config.install = _flag(header, "install", fix=fix)
    track = fields.get("track")
    if track is not None and (not isinstance(track, str) or not track.strip()):
        fix = "write track: mlflow (with torchon-mlflow installed), as --track mlflow does"
        raise ConfigError("!Environment's track must name a tracker", header.arg_mark("track"), fix=fix)
    config.track = track.strip().lower() if track else None
    return extensions


def _flag(header: TagNode, name: str, *, fix: str) -> bool:
    """A true/false field of ``!Environment`` (false when absent)."""
    value = header.kwargs.get(name, False)
    if not isinstance(value, bool):
        raise ConfigError(f"!Environment's {name} must be true or false", header.arg_mark(name), fix=fix)
    return value


def _read_resources(config: Config, resources: Any, mark: Mark, base_dir: Path) -> None:
    if resources is None:
        return
    if not isinstance(resources, dict):
        fix = "write `resources: {data: ./data}`"
        raise ConfigError("!Environment's resources must be a mapping of name to path", mark, fix=fix)
    value_marks = resources.value_marks if isinstance(resources, CMap) else {}
    for name, location in resources.items():
        where = value_marks.get(name, mark)
        if not isinstance(location, str):
            what = f"resource {name!r} must be a path or URI"
            raise ConfigError(what, where, fix=f"write `{name}: ./path`")
        local = (base_dir / location).expanduser().resolve() if "://" not in location else None
        if local is not None and not local.exists():
            what = f"resource {name!r}: {location!r} does not exist (looked at {local})"
            fix = "give a path relative to the config file's folder, or an absolute path"
            raise ConfigError(what, where, fix=fix)
        config.resources[str(name)] = str(local or location)


def _resolve_extensions(
    config: Config, manager: PluginManager, install: bool, untrusted: bool, allow: frozenset[str]
) -> None:
    import importlib.util

    from torchon.extensions import ExtensionError, ResolvedExtension, has_project_file
    from torchon.first_party import first_party
    from torchon.importing import TargetImportError

    for ext in config.extensions:
        if untrusted and ext.kind == "local":
            spec = importlib.util.find_spec(ext.name) if ext.name.isidentifier() else None
            if spec is not None:
                config.resolved.append(ResolvedExtension(ext.name, "local", ext.spec, path=spec.origin))
                continue
            if ext.name not in allow:
                what = (
                    f"extension {ext.name!r} is not importable here, and code from the path this config names "
                    f"({ext.target}) is not imported unless the caller allows it"
                )
                fix = (
                    f"install the package that provides {ext.name!r}; or, if you trust that code, load with "
                    f"allow=[{ext.name!r}] (torchon serve --allow {ext.name}) to import it from that path"
                )
                raise ConfigError(what, ext.mark, fix=fix)
        # A local project folder, when installing is allowed, is installed editable (torchon-extensions' resolver).
        project = ext.kind == "local" and install and has_project_file(ext.local_path())
        kind = "editable" if project else ext.kind
        entry = manager.resolvers.get(kind)
        if entry is None:
            dist = first_party("resolvers", kind)
            known = ", ".join(manager.resolvers.names())
            what = f"extension {ext.name!r}: no resolver for {ext.kind!r} specs"
            if dist and kind == "editable":
                what = f"extension {ext.name!r}: installing a local project (--install-extensions / install: true) comes with the {dist} plugin, which is not installed or not loaded"
                fix = f"install {dist} (pip install {dist}), or check that -p or TORCHON_DENY_PLUGINS does not leave it out; or, to use the folder from where it is, run without --install-extensions (and without install: true in the header)"
            elif dist:
                what += f" ({ext.kind} extensions come with the {dist} plugin, which is not installed or not loaded)"
                fix = f"install {dist} (pip install {dist}), or check that -p or TORCHON_DENY_PLUGINS does not leave it out; known kinds here: {known}"
            else:
                what += did_you_mean(ext.kind, manager.resolvers.names())
                fix = f"known kinds: {known}; install the plugin that handles {ext.kind!r}"
            raise ConfigError(what, ext.mark, fix=fix)
        try:
            config.resolved.append(entry.load()(install=install).resolve(ext))
        except ExtensionError as exc:
            raise ConfigError(exc.what, ext.mark, fix=exc.fix) from exc
        except TargetImportError as exc:
            what = f"the {kind} resolver (plugin {entry.plugin!r}) cannot be imported: {exc}"
            raise ConfigError(what, ext.mark, fix="reinstall that plugin") from exc


# Re-exported for plugins that walk the tree (search spaces expand variants before building).
__all__ += ["CList", "CMap", "LinkNode", "TagNode", "Unbuilt"]


def __getattr__(name: str) -> Any:
    if name == "Unbuilt":  # lazily: torchon.config.types imports the component module
        from torchon.config.types import Unbuilt

        return Unbuilt
    raise AttributeError(f"module 'torchon.config' has no attribute {name!r}")
