"""Resolving a parsed config: what each tag names, and what each link points at.

Only three kinds of names are allowed, which is what makes a config safe to load from anywhere: tags registered by
plugins (``!Trainer``), classes of extensions the header declares (``!my_ext.Model``) and classes of namespaces
plugins register (``!torch.nn.Linear``); each may be followed by a classmethod factory
(``!my_ext.Model.load_from_path``). Anything else is refused with the closest known names.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from torchon._component import ComponentBase, RunnableBase
from torchon.config.errors import ConfigError, closest, did_you_mean
from torchon.config.nodes import NODE_TYPES, CList, CMap, Index, LinkNode, TagNode, contents
from torchon.first_party import FIRST_PARTY
from torchon.importing import TargetImportError, import_target

if TYPE_CHECKING:
    from torchon.plugins import PluginManager

__all__ = ["Resolver"]

# Tags and namespaces torchon's own plugins provide, so a missing plugin gets "install X" rather than "unknown".
_FIRST_PARTY_TAGS = FIRST_PARTY["tags"]
_MISSING = object()


def _is_factory(cls: type, name: str) -> bool:
    """A classmethod or staticmethod of ``cls``, other than the hooks torchon's base classes define."""
    # load_from_path is the one factory every component has (Component.load_from_path)
    if hasattr(RunnableBase, name) and name != "load_from_path":
        return False
    try:
        return isinstance(inspect.getattr_static(cls, name), (classmethod, staticmethod))
    except AttributeError:
        return False


def _link_error(link: LinkNode, what: str, fix: str) -> ConfigError:
    return ConfigError(f"link !@ {link.text}: {what}", link.mark, fix=fix, path=link.path or None)


class Resolver:
    """Resolves the tags and links of one config tree in place."""

    def __init__(
        self,
        manager: PluginManager,
        extensions: Iterable[str] = (),
        *,
        components_only: bool = False,
        allow: Iterable[str] = (),
    ) -> None:
        self.manager = manager
        self.extensions = set(extensions)
        self.components_only = components_only  # untrusted configs: extension classes must be components...
        self.allow = frozenset(allow)  # ...unless their module is one the caller allows
        self.links: list[tuple[LinkNode, list[tuple[Any, Any]], frozenset[int]]] = []
        self._resolved: dict[str, tuple[Any, str, str]] = {}

    def resolve(self, root: Any) -> None:
        self._walk(root, "", [], frozenset())
        for link, scopes, _ in self.links:
            self._resolve_link(link, scopes)
        for link, _, ancestors in self.links:
            self._check_cycle(link, ancestors)

    def _walk(self, value: Any, path: str, scopes: list[tuple[Any, Any]], ancestors: frozenset[int]) -> None:
        """``scopes``: (mapping or tag, key of the entry we are inside), innermost last, for lexical link lookup;
        ``ancestors``: ids of the nodes containing ``value``, to find links that point at their own container."""
        if isinstance(value, LinkNode):
            value.path = path
            self.links.append((value, scopes, ancestors))
            return
        if isinstance(value, TagNode):
            value.path = path
            self.resolve_tag(value)
        positional, named = contents(value)
        inner = ancestors | {id(value)}
        for i, child in enumerate(positional):
            if isinstance(child, NODE_TYPES):
                self._walk(child, f"{path}[{i}]", scopes, inner)
        for key, child in named.items():  # a name opens a scope: `model: !@ encoder` looks beside `model`
            if isinstance(child, NODE_TYPES):
                self._walk(child, f"{path}.{key}" if path else str(key), [*scopes, (value, key)], inner)

    @staticmethod
    def _check_cycle(link: LinkNode, ancestors: frozenset[int]) -> None:
        """A link to its own container, or a chain of links that comes back to itself, can never be built."""
        seen = {id(link)}
        chain = [link.text]
        anchor = link.anchor
        while isinstance(anchor, LinkNode):
            chain.append(anchor.text)
            if id(anchor) in seen:
                fix = "break the cycle: one of the links must point at an object, not at another link"
                raise _link_error(link, f"links form a cycle ({' -> '.join('!@ ' + t for t in chain)})", fix)
            seen.add(id(anchor))
            anchor = anchor.anchor
        if id(anchor) in ancestors:
            what = "links form a cycle (it points at an object that contains the link)"
            fix = "break the cycle; a link may not point at an object that contains it"
            raise _link_error(link, what, fix)

    def resolve_tag(self, node: TagNode) -> None:
        cached = self._resolved.get(node.tag)
        if cached is None:
            self._resolve_tag(node)
            self._resolved[node.tag] = (node.target, node.kind, node.label)
        else:
            node.target, node.kind, node.label = cached

    def _resolve_tag(self, node: TagNode) -> None:
        tag = node.tag
        entry = self.manager.tags.get(tag)
        if entry is not None:
            node.target = self._load(entry.target, node, f"plugin {entry.plugin!r}")
            node.kind = entry.options.get("kind", "component")
            node.label = "!" + tag
            return
        parts = tag.split(".")
        base = self.manager.tags.get(parts[0]) if len(parts) == 2 else None
        if base is not None and base.options.get("kind", "component") == "component":
            cls = self._load(base.target, node, f"plugin {base.plugin!r}")
            return self._set_factory(node, cls, parts[1], "!" + parts[0])
        if parts[0] in self.extensions:
            return self._resolve_extension(node, parts)
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            ns = self.manager.namespaces.get(prefix)
            if ns is not None:
                return self._resolve_namespace(node, ns.options["module"], prefix, parts[cut:], ns.plugin)
        self._unknown_tag(node, parts)

    def _load(self, target: str, node: TagNode, owner: str) -> Any:
        try:
            return import_target(target)
        except TargetImportError as exc:
            what = f"!{node.tag} is registered by {owner} but cannot be imported: {exc}"
            fix = "reinstall that plugin and the libraries it needs (torchon plugins shows what failed)"
            raise ConfigError(what, node.mark, fix=fix) from None

    def _set_factory(self, node: TagNode, cls: Any, factory: str, label: str) -> None:
        if not isinstance(cls, type) or not _is_factory(cls, factory):
            public = [n for n in dir(cls) if not n.startswith("_")]
            known = [n for n in public if isinstance(cls, type) and _is_factory(cls, n)]
            what = f"{label}.{factory} is not a classmethod factory of {label}{did_you_mean(factory, known)}"
            fix = "name a classmethod of the class after its tag (`!Name.factory`), or drop the suffix"
            fix += f"; its factories are {', '.join(known)}" if known else ""
            raise ConfigError(what, node.mark, fix=fix)
        node.target, node.kind, node.label = getattr(cls, factory), "component", f"{label}.{factory}"

    def _resolve_extension(self, node: TagNode, parts: list[str]) -> None:
        ext = parts[0]
        module: Any = None
        cut = len(parts)
        while cut >= 1:
            name = ".".join(parts[:cut])
            try:
                module = importlib.import_module(name)
                break
            except ModuleNotFoundError as exc:
                if exc.name is None or not name.startswith(exc.name):
                    fix = "install the libraries the extension needs"
                    raise ConfigError(
                        f"extension {ext!r} failed to import {name!r}: {exc}", node.mark, fix=fix
                    ) from None
                cut -= 1
            except Exception as exc:
                what = f"extension module {name!r} failed to import: {type(exc).__name__}: {exc}"
                fix = "fix the error in the extension's code (run with --debug for the traceback)"
                raise ConfigError(what, node.mark, fix=fix) from None
        rest = parts[cut:]
        module_name = ".".join(parts[:cut])
        if not rest:
            what = f"!{node.tag} names the module {module_name!r}, not a class"
            raise ConfigError(what, node.mark, fix=f"name a class of the extension: !{module_name}.ClassName")
        obj = getattr(module, rest[0], None)
        if not isinstance(obj, type):
            classes = [n for n, v in vars(module).items() if isinstance(v, type) and _owned(v, ext)]
            if obj is None:
                what = f"has no class {rest[0]!r}"
            else:
                what = f"has {rest[0]!r}, but it is a {type(obj).__name__}, not a class"
            what = f"extension module {module_name!r} {what}{did_you_mean(rest[0], classes, prefix=module_name + '.')}"
            fix = "name a class defined in the extension"
            fix += f"; it defines {', '.join(sorted(classes)[:8])}" if classes else ""
            raise ConfigError(what, node.mark, fix=fix)
        if not _owned(obj, ext):
            what = f"!{node.tag} is {obj.__module__}.{obj.__qualname__}, not a class of extension {ext!r}"
            fix = (
                "configs may only name classes an extension defines; subclass it in the extension, or use a "
                "namespace a plugin registers"
            )
            raise ConfigError(what, node.mark, fix=fix)
        if self.components_only and not issubclass(obj, ComponentBase) and ext not in self.allow:
            what = (
                f"!{node.tag} is a plain class, not a torchon.Component; a bundle's config builds plain classes "
                "only from modules the caller allows"
            )
            fix = (
                f"if you trust the code of module {ext!r}, load with torchon.load(uri, allow=[{ext!r}]) "
                f"(torchon serve URI --allow {ext}); or make the class a torchon.Component; or trust=True to "
                "trust everything the bundle names"
            )
            raise ConfigError(what, node.mark, fix=fix)
        self._finish_class(node, obj, rest, f"!{module_name}.{rest[0]}")

    def _resolve_namespace(
        self, node: TagNode, module: str, prefix: str, rest: list[str], plugin: str
    ) -> None:
        try:
            found = importlib.import_module(module)
        except Exception as exc:
            what = f"namespace !{prefix} (module {module!r}, registered by plugin {plugin!r}) cannot be imported: {exc}"
            fix = f"install {module.split('.')[0]} and the plugin's other requirements"
            raise ConfigError(what, node.mark, fix=fix) from None
        obj = getattr(found, rest[0], None)
        if not isinstance(obj, type):
            classes = [n for n, v in vars(found).items() if isinstance(v, type) and not n.startswith("_")]
            what = f"!{prefix} has no class {rest[0]!r}{did_you_mean(rest[0], classes, prefix='!' + prefix + '.')}"
            raise ConfigError(what, node.mark, fix=f"name a class of the {module} module")
        self._finish_class(node, obj, rest, f"!{prefix}.{rest[0]}")

    def _finish_class(self, node: TagNode, cls: type, rest: list[str], label: str) -> None:
        if len(rest) == 1:
            node.target, node.kind, node.label = cls, "component", label
        elif len(rest) == 2:
            self._set_factory(node, cls, rest[1], label)
        else:
            what = f"!{node.tag} goes too deep: after the class only a factory name may follow"
            raise ConfigError(what, node.mark, fix=f"write {label} or {label}.factory")

    def _unknown_tag(self, node: TagNode, parts: list[str]) -> None:
        tag = node.tag
        missing = [t for t in _FIRST_PARTY_TAGS if t not in self.manager.tags and t[0].isupper()]
        close = closest(tag, [*self.manager.tags.names(), *missing])
        hint = " (did you mean " + " or ".join(f"!{c}" for c in close) + "?)" if close else ""
        first = parts[0]
        wanted = tag
        plugin = _FIRST_PARTY_TAGS.get(tag) or (_FIRST_PARTY_TAGS.get(first) if len(parts) > 1 else None)
        if plugin is None and len(parts) == 1 and close and close[0] in missing:
            wanted = close[0]  # the nearest tag belongs to a plugin that is not installed
            plugin = _FIRST_PARTY_TAGS[wanted]
        if plugin:
            fix = f"!{wanted} comes from the {plugin} plugin: install it (pip install {plugin}), or check that -p or TORCHON_DENY_PLUGINS does not leave it out"
        elif len(parts) > 1 and first in sys.stdlib_module_names:
            fix = (
                f"configs cannot name Python's own modules ({first!r}); use a component a plugin registers, or "
                "a class of a declared extension"
            )
        elif len(parts) > 1 and first.isidentifier() and importlib.util.find_spec(first) is not None:
            fix = (
                f"module {first!r} is installed but not declared as an extension; declare it in the header "
                f"document (`{first}: <path, git URL or requirement>` then `---`) to use its classes"
            )
        elif len(parts) > 1:
            near = did_you_mean(first, sorted(self.extensions) + self.manager.namespaces.names())
            fix = f"declare the extension {first!r} in the header (`{first}: ./path/to/it` then `---`)"
            fix += f", or fix the name{near}" if near else ""
        else:
            sample = ", ".join("!" + n for n in self.manager.tags.names()[:12]) or "none (no plugins loaded)"
            fix = f"use a registered tag ({sample}) or a class of a declared extension (!my_ext.Name)"
        raise ConfigError(f"!{tag} is not a known tag{hint}", node.mark, fix=fix)

    def _resolve_link(self, link: LinkNode, scopes: list[tuple[Any, Any]]) -> None:
        first = link.parts[0]
        assert isinstance(first, str)  # parse_link_path starts every path with a name
        anchor: Any = _MISSING
        for depth, (container, own_key) in enumerate(reversed(scopes)):
            mapping = container.kwargs if isinstance(container, TagNode) else container
            # `model: !@ model` means an outer `model`, not itself
            if isinstance(mapping, Mapping) and first in mapping and not (depth == 0 and first == own_key):
                anchor = mapping[first]
                break
        if anchor is _MISSING:
            in_scope = {str(k) for c, _ in scopes for k in (c.kwargs if isinstance(c, TagNode) else c)} - {
                first
            }
            what = f"nothing named {first!r} is in scope{did_you_mean(str(first), sorted(in_scope))}"
            fix = "a link's first name must be a key of an enclosing mapping (a stage, an argument)"
            raise _link_error(link, what, fix)
        walked = [str(first)]
        parts = list(link.parts[1:])
        while parts:
            part = parts[0]
            key = part.key if isinstance(part, Index) else part
            at = ".".join(walked)
            if isinstance(anchor, TagNode):
                if isinstance(key, str) and key in anchor.kwargs:
                    anchor = anchor.kwargs[key]
                elif (
                    isinstance(key, int)
                    and anchor.form == "sequence"
                    and -len(anchor.args) <= key < len(anchor.args)
                ):
                    anchor = anchor.args[key]
                elif isinstance(part, Index) or anchor.kind == "value" or _has_attribute(anchor.target, part):
                    break  # checked on the built object
                else:
                    names = list(anchor.kwargs) + _public_attributes(anchor.target)
                    what = f"{at} ({anchor.label}) has no argument or attribute {part!r}{did_you_mean(part, names)}"
                    fix = (
                        "link to an argument given in the config or an attribute the class declares "
                        "(a class-level annotation is enough)"
                    )
                    raise _link_error(link, what, fix)
            elif isinstance(anchor, CMap):
                if key not in anchor:
                    what = f"{at} has no key {key!r}{did_you_mean(str(key), [str(k) for k in anchor])}"
                    raise _link_error(link, what, "link to a key that exists")
                anchor = anchor[key]
            elif isinstance(anchor, CList):
                if not isinstance(key, int) or not -len(anchor) <= key < len(anchor):
                    what = f"{at} is a list of {len(anchor)}; {part} is not an index of it"
                    raise _link_error(link, what, "index lists with [0], [1], ...")
                anchor = anchor[key]
            elif isinstance(anchor, LinkNode):
                break
            else:
                what = f"{at} is a plain value ({anchor!r}); it has no {part}"
                raise _link_error(link, what, "link to the value itself, or to an object")
            walked.append(str(part))
            parts.pop(0)
        link.anchor = anchor
        link.rest = parts


def _owned(obj: type, ext: str) -> bool:
    module = getattr(obj, "__module__", "") or ""
    return module == ext or module.startswith(ext + ".")


def _annotated(target: type) -> set[str]:
    return {n for klass in target.__mro__ for n in getattr(klass, "__annotations__", {})}


def _has_attribute(target: Any, name: str) -> bool:
    return isinstance(target, type) and (hasattr(target, name) or name in _annotated(target))


def _public_attributes(target: Any) -> list[str]:
    if not isinstance(target, type):
        return []
    return sorted(n for n in {*dir(target), *_annotated(target)} if not n.startswith("_"))
