"""How non-component objects were built from a config, remembered beside them (not on them).

A ``torch.nn.Linear`` built from ``!torch.nn.Linear {in_features: 4, out_features: 2}`` cannot carry its config
itself, but writing the enclosing component back to YAML needs it. Entries go away with their objects.
"""

from __future__ import annotations

import weakref
from typing import Any, NamedTuple

__all__ = ["Provenance", "recall", "remember"]


class Provenance(NamedTuple):
    tag: str
    args: list[Any]
    kwargs: dict[str, Any]


class _Strong:
    """Holds an object that cannot be weakly referenced (``datetime.timedelta``), keeping its id valid."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __call__(self) -> Any:
        return self.obj


_table: dict[int, tuple[Any, Provenance]] = {}


def remember(obj: Any, tag: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Record how ``obj`` was built. Objects that cannot be weakly referenced are held (they are small values)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return
    key = id(obj)
    try:
        ref: Any = weakref.ref(obj, lambda _r: _table.pop(key, None))
    except TypeError:
        ref = _Strong(obj)
    _table[key] = (ref, Provenance(tag, args, kwargs))


def recall(obj: Any) -> Provenance | None:
    """How ``obj`` was built from a config, if it was."""
    entry = _table.get(id(obj))
    if entry is None or entry[0]() is not obj:
        return None
    return entry[1]
