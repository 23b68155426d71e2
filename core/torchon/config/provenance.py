"""How non-component objects were built from a config, kept beside them (not on them): a ``torch.nn.Linear``
cannot carry its config, but writing its enclosing component back to YAML needs it. Entries go with their objects.
"""

from __future__ import annotations

import weakref
from typing import Any, NamedTuple

__all__ = ["Provenance", "recall", "remember"]


class Provenance(NamedTuple):
    tag: str
    args: list[Any]
    kwargs: dict[str, Any]


# id -> (weak reference or None, the object itself when it cannot be weakly referenced, how it was built)
_table: dict[int, tuple[Any, Any, Provenance]] = {}


def remember(obj: Any, tag: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Record how ``obj`` was built. Objects that cannot be weakly referenced (a ``datetime.timedelta``) are held,
    which keeps their id valid (they are small values)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return
    key = id(obj)
    try:
        ref, held = weakref.ref(obj, lambda _r: _table.pop(key, None)), None
    except TypeError:
        ref, held = None, obj
    _table[key] = (ref, held, Provenance(tag, args, kwargs))


def recall(obj: Any) -> Provenance | None:
    """How ``obj`` was built from a config, if it was."""
    entry = _table.get(id(obj))
    if entry is None or (entry[1] if entry[0] is None else entry[0]()) is not obj:
        return None
    return entry[2]
