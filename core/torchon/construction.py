"""What ``__init__`` left behind, and whether it changed since: the rule that decides a component's saved state.

Loading rebuilds each component by calling ``__init__`` with its saved arguments, so what ``__init__`` set up from
them comes back by itself; what changed *after* construction must be saved. When the outermost ``__init__``
returns, :func:`snapshot` records per attribute a reference (weak where the type allows, so a replaced array is not
kept alive) and a cheap fingerprint of the content where one can be taken:

* numbers, strings, bytes, ``None``: identity alone (they cannot change in place);
* lists, tuples, dicts, sets: their content (a shallow copy when it is all numbers and strings), recursively;
* numpy arrays: a 128-bit xxHash of the bytes (about 4 ms for 50 MB); read-only arrays: identity alone;
* torch tensors: the version counter torch bumps on every in-place operation;
* objects with a ``state_dict()`` (modules, optimizers): always state, they exist to be trained in place;
* other objects with attributes (a scikit-learn estimator): each attribute's identity, so ``fit()`` adding
  ``coef_`` counts as a change;
* anything else (C objects, sessions, indexes): identity alone, assumed made by ``__init__`` from its arguments.

Nothing here imports numpy or torch: a value can only be an array or a tensor if its library is already imported.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ALWAYS", "changed", "fingerprint", "snapshot"]

ALWAYS = object()  # the fingerprint of a value that is always state
_IDENTITY = ()  # the fingerprint of a value identity describes fully
_SCALARS = (str, bytes, int, float, complex, bool, type(None), range)
_SCALAR_TYPES = frozenset(_SCALARS)
_MAX_DEPTH = 6
_Mark = tuple[Callable[[], Any], Any]  # (reference, fingerprint)


class _Same:
    """Equal only to a ``_Same`` of the very same object, which it keeps alive (so its ``id`` is never reused)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _array(value: Any) -> Any:
    import xxhash

    if not value.flags.writeable:
        return ("ro", value.shape)
    if value.dtype.hasobject:
        return ("objects", value.shape, tuple(_Same(v) for v in value.flat))
    data = value if value.flags.c_contiguous else value.copy(order="C")
    return ("np", value.shape, value.dtype.str, xxhash.xxh3_128_intdigest(memoryview(data).cast("B")))


def fingerprint(value: Any, depth: int = 0) -> Any:
    """A hashable summary that changes when ``value`` changes in place (see the module's docstring)."""
    if isinstance(value, _SCALARS):
        return _IDENTITY
    cls = type(value)
    if depth >= _MAX_DEPTH:
        return _Same(value)
    if cls in (list, tuple):
        if set(map(type, value)) <= _SCALAR_TYPES:
            return (cls.__name__, tuple(value))  # a shallow copy: compared exactly
        return (cls.__name__, tuple((_Same(v), fingerprint(v, depth + 1)) for v in value))
    if cls is dict:
        if set(map(type, value.values())) <= _SCALAR_TYPES:
            return ("dict", tuple(value.items()))
        return ("dict", tuple((k, _Same(v), fingerprint(v, depth + 1)) for k, v in value.items()))
    if cls in (set, frozenset):
        return ("set", frozenset(value))
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        return _array(value)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return ("tensor", value._version, value.data_ptr(), tuple(value.shape))
    if callable(getattr(cls, "state_dict", None)):
        return ALWAYS
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        return ("attributes", tuple((k, _Same(v)) for k, v in attributes.items()))
    return _IDENTITY


def _reference(value: Any) -> Callable[[], Any]:
    """What tells later whether an attribute still holds ``value``: a weak reference where the type allows one,
    else a strong one (scalars, lists, dicts: small, or made by ``__init__`` once). Either way an ``id`` that
    ``value`` had is never mistaken for a new object's."""
    if not isinstance(value, _SCALARS):
        try:
            return weakref.ref(value)
        except TypeError:
            pass
    return lambda: value


def snapshot(obj: Any) -> dict[str, _Mark]:
    """``{attribute: (reference, fingerprint)}`` of what ``obj`` holds now (its public attributes)."""
    return {k: (_reference(v), fingerprint(v)) for k, v in vars(obj).items() if not k.startswith("_")}


def changed(attributes: Mapping[str, Any], built: Mapping[str, _Mark] | None) -> dict[str, Any]:
    """The attributes that are not as construction left them (all of them when there is no snapshot)."""
    if built is None:
        return dict(attributes)
    out = {}
    for name, value in attributes.items():
        mark = built.get(name)
        if mark is None or mark[0]() is not value or mark[1] is ALWAYS or fingerprint(value) != mark[1]:
            out[name] = value
    return out
