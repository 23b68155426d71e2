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


_table: dict[int, tuple[weakref.ref[Any], Provenance]] = {}


def remember(obj: Any, tag: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Record how ``obj`` was built; objects that cannot be weakly referenced (ints, lists) are skipped."""
    key = id(obj)
    try:
        ref = weakref.ref(obj, lambda _r, key=key: _table.pop(key, None))
    except TypeError:
        return
    _table[key] = (ref, Provenance(tag, args, kwargs))


def recall(obj: Any) -> Provenance | None:
    """How ``obj`` was built from a config, if it was."""
    entry = _table.get(id(obj))
    if entry is None or entry[0]() is not obj:
        return None
    return entry[1]
