"""Which savers save an object, in which order, and finding them again (safely) when loading.

The chain of an object is ``[json, *the savers its class lists, *savers for its state's values, *savers for its
type]``: saving runs it backwards (a module's weights first, the default JSON saver last with whatever is left),
loading forwards. Loading finds savers in the installation, never imports them because a bundle names them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from torchon._component import ComponentBase
from torchon.errors import TorchonError
from torchon.first_party import first_party
from torchon.importing import TargetImportError, import_target
from torchon.registry import Entry
from torchon.saver import Saver

__all__ = ["DEFAULT_SAVER", "ChainError", "SaverRef", "chain_for", "find_saver"]

DEFAULT_SAVER = "json"


class ChainError(TorchonError):
    """A saver cannot be found or used; the message names it and the component."""


@dataclass(frozen=True)
class SaverRef:
    """A saver in a chain: its class, and where it came from (for the manifest)."""

    name: str
    cls: type[Saver]
    plugin: str | None  # the registering plugin, or None for a class a component lists directly

    @property
    def safety(self) -> str:
        return self.cls.safety


def _types(names: Iterable[str]) -> list[type]:
    """The classes named ``"module:Class"`` whose module is already imported (others cannot be in the tree)."""
    found = []
    for name in names:
        if name.partition(":")[0] not in sys.modules:
            continue
        try:
            cls = import_target(name)
        except TargetImportError:
            continue
        if isinstance(cls, type):
            found.append(cls)
    return found


def _registered(entry: Entry) -> SaverRef:
    who = f"saver {entry.name!r} of plugin {entry.plugin!r}"
    try:
        cls = entry.load()
    except TargetImportError as exc:
        raise ChainError(f"{who} cannot be imported: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Saver)):
        raise ChainError(f"{who} is not a torchon.Saver subclass")
    if cls.safety != entry.options.get("safety"):
        raise ChainError(
            f"saver {entry.name!r}: plugin {entry.plugin!r} registered it as {entry.options.get('safety')!r} but "
            f"the class says {cls.safety!r}"
        )
    return SaverRef(entry.name, cls, entry.plugin)


def _declared(cls: type) -> list[SaverRef]:
    from torchon.plugins import get_manager

    refs = []
    for item in getattr(cls, "savers", ()) if issubclass(cls, ComponentBase) else ():
        if isinstance(item, str):
            entry = get_manager().savers.get(item)
            if entry is None:
                dist = first_party("savers", item)
                raise ChainError(
                    f"{cls.__qualname__} lists saver {item!r}, which no installed plugin registers "
                    f"(known: {', '.join(get_manager().savers.names())})"
                    + (f"; install {dist} (pip install {dist})" if dist else "")
                )
            refs.append(_registered(entry))
        elif isinstance(item, type) and issubclass(item, Saver):
            refs.append(SaverRef(item.name, item, None))
        else:
            raise ChainError(f"{cls.__qualname__}.savers holds {item!r}; list saver names or Saver classes")
    return refs


def _holds(value: Any, types: tuple[type, ...], depth: int = 0) -> bool:
    """Whether ``value`` is, or holds in lists, tuples and dicts, an instance of ``types``."""
    if isinstance(value, types):
        return True
    if depth >= 8:
        return False
    if isinstance(value, (list, tuple)):
        return any(_holds(v, types, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_holds(v, types, depth + 1) for v in value.values())
    return False


def chain_for(obj: Any, state: dict[str, Any]) -> list[SaverRef]:
    """The saver chain for saving ``obj`` with ``state``, default first."""
    from torchon.plugins import get_manager

    table = get_manager().savers
    default = table.get(DEFAULT_SAVER)
    if default is None:
        raise ChainError("no default saver: the kernel's built-in plugins are not loaded")
    chain = [_registered(default), *_declared(type(obj))]
    names = {ref.name for ref in chain}
    for entry in table:  # savers for values in the state (arrays, tensors)
        found = tuple(_types(entry.options.get("values", ())))
        if entry.name not in names and found and any(_holds(v, found) for v in state.values()):
            chain.append(_registered(entry))
            names.add(entry.name)
    for entry in table:  # then savers for the object itself (a module's weights)
        found = tuple(_types(entry.options.get("types", ())))
        if entry.name not in names and found and isinstance(obj, found):
            chain.append(_registered(entry))
            names.add(entry.name)
    return chain


def in_place_types() -> tuple[type, ...]:
    """Classes whose objects a type saver restores in place (modules, optimizers), as far as imported."""
    from torchon.plugins import get_manager

    found: list[type] = []
    for entry in get_manager().savers:
        found.extend(_types(entry.options.get("types", ())))
    return tuple(found)


def find_saver(name: str, cls: type) -> SaverRef:
    """The installed saver called ``name`` for a component of class ``cls``: registered, or listed by the class."""
    from torchon.plugins import get_manager

    for ref in _declared(cls):
        if ref.name == name:
            return ref
    entry = get_manager().savers.get(name)
    if entry is None:
        dist = first_party("savers", name)
        fix = f"{dist} (pip install {dist})" if dist else "the plugin that provides it"
        raise ChainError(
            f"saver {name!r} is not installed (known: {', '.join(get_manager().savers.names())}); install {fix}"
        )
    return _registered(entry)
