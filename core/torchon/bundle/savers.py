"""The kernel's one saver: JSON for plain data, the default, last in every chain (a ``data`` saver: loading runs
no code). Savers for anything else are plugins' (``npy`` and ``joblib`` come with torchon-numpy).
"""

from __future__ import annotations

import json
import math
from typing import Any

from torchon.bundle.files import ReadFolder, WriteFolder
from torchon.first_party import first_party
from torchon.saver import Saver

__all__ = ["JsonSaver", "is_plain"]


def is_plain(value: Any) -> bool:
    """Whether ``value`` is JSON data: dicts with string keys, lists, strings, numbers, booleans, None."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
    return False


def _encode(value: Any) -> Any:
    """JSON with non-finite floats spelled out, so the file is standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__float__"} and value["__float__"] in ("nan", "inf", "-inf"):
            return float(value["__float__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class JsonSaver(Saver):
    """The default saver: whatever state is left as JSON (``state.json``)."""

    name = "json"
    safety = "data"

    def can_save(self, obj: Any, state: dict[str, Any]) -> bool:
        return bool(state)

    def save(self, obj: Any, state: dict[str, Any], folder: WriteFolder) -> dict[str, Any]:
        bad = {k: type(v) for k, v in state.items() if not is_plain(v)}
        if bad:
            listing = ", ".join(f"{k} ({t.__qualname__})" for k, t in sorted(bad.items()))
            one = len(bad) == 1
            types = sorted({(t.__module__, t.__name__) for t in bad.values()})
            hint = "".join(  # a first-party plugin's saver would take it: say which
                f"; {m}.{n} values are saved by {dist} (pip install {dist}), which is not installed or not loaded"
                for m, n in types
                if (dist := first_party("values", f"{m}:{n}"))
            )
            raise TypeError(
                f"{type(obj).__qualname__}: attribute{'' if one else 's'} {listing} {'was' if one else 'were'} set "
                f"or changed after __init__ returned and {'is' if one else 'are'} not plain data, so rebuilding the "
                "object from its config would not bring it back. Fix: set it up in __init__ from the constructor's "
                "arguments (it is then rebuilt on load), give the class a saver for it (its `savers` class "
                "attribute), or list 'joblib' there (torchon-numpy's code saver: loading needs trust=True)"
                + hint
            )
        folder.write_text("state.json", json.dumps(_encode(state), indent=1, sort_keys=True, allow_nan=False))
        return {}

    def load(self, obj: Any, state: dict[str, Any], folder: ReadFolder) -> dict[str, Any]:
        loaded = json.loads(folder.read_bytes("state.json"))
        if not isinstance(loaded, dict):
            raise ValueError(f"{folder.prefix}/state.json does not hold a JSON object")
        return {**_decode(loaded), **state}
