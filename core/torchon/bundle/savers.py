"""The kernel's savers: JSON for plain data (the default), ``.npy`` for numpy arrays, joblib for the rest.

``json`` and ``npy`` are ``data`` savers: loading them runs no code (``np.load`` with ``allow_pickle=False``).
``joblib`` is a ``code`` saver for objects nothing else can save (scikit-learn estimators, as Neuraxle's
JoblibStepSaver): a component opts in by listing it, and a bundle using it loads only with ``trust=True``.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

from torchon.bundle.files import ReadFolder, WriteFolder
from torchon.saver import Saver

__all__ = ["JoblibSaver", "JsonSaver", "NumpySaver", "is_plain"]


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
        bad = {k: type(v).__qualname__ for k, v in state.items() if not is_plain(v)}
        if bad:
            listing = ", ".join(f"{k} ({t})" for k, t in sorted(bad.items()))
            one = len(bad) == 1
            raise TypeError(
                f"{type(obj).__qualname__}: attribute{'' if one else 's'} {listing} {'was' if one else 'were'} set "
                f"or changed after __init__ returned and {'is' if one else 'are'} not plain data, so rebuilding the "
                "object from its config would not bring it back. Fix: set it up in __init__ from the constructor's "
                "arguments (it is then rebuilt on load), give the class a saver for it (its `savers` class "
                "attribute), or list 'joblib' there (a code saver: loading needs trust=True)"
            )
        folder.write_text("state.json", json.dumps(_encode(state), indent=1, sort_keys=True, allow_nan=False))
        return {}

    def load(self, obj: Any, state: dict[str, Any], folder: ReadFolder) -> dict[str, Any]:
        loaded = json.loads(folder.read_bytes("state.json"))
        if not isinstance(loaded, dict):
            raise ValueError(f"{folder.prefix}/state.json does not hold a JSON object")
        return {**_decode(loaded), **state}


class NumpySaver(Saver):
    """numpy arrays in a component's state, one ``.npy`` file each, read back without pickle."""

    name = "npy"
    safety = "data"

    @staticmethod
    def _arrays(state: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        return {k: v for k, v in state.items() if isinstance(v, np.ndarray)}

    def can_save(self, obj: Any, state: dict[str, Any]) -> bool:
        return bool(self._arrays(state))

    def save(self, obj: Any, state: dict[str, Any], folder: WriteFolder) -> dict[str, Any]:
        import numpy as np

        arrays = self._arrays(state)
        index = {}
        for i, (key, array) in enumerate(sorted(arrays.items())):
            if array.dtype.hasobject:
                raise TypeError(
                    f"{type(obj).__qualname__}: array {key!r} holds Python objects; .npy without pickle cannot "
                    "store it (use a numeric dtype, or list 'joblib' in the component's savers)"
                )
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            folder.write_bytes(f"{i}.npy", buffer.getbuffer())
            index[key] = f"{i}.npy"
        folder.write_text("index.json", json.dumps(index, sort_keys=True))
        return {k: v for k, v in state.items() if k not in arrays}

    def load(self, obj: Any, state: dict[str, Any], folder: ReadFolder) -> dict[str, Any]:
        import numpy as np

        index = json.loads(folder.read_bytes("index.json"))
        restored = dict(state)
        for key, filename in index.items():
            restored[key] = np.load(io.BytesIO(folder.read_bytes(filename)), allow_pickle=False)
        return restored


class JoblibSaver(Saver):
    """State values nothing else can save, pickled with joblib. Loading it runs code: ``trust=True`` only."""

    name = "joblib"
    safety = "code"

    def can_save(self, obj: Any, state: dict[str, Any]) -> bool:
        return any(not is_plain(v) for v in state.values())

    def save(self, obj: Any, state: dict[str, Any], folder: WriteFolder) -> dict[str, Any]:
        import joblib

        values = {k: v for k, v in state.items() if not is_plain(v)}
        joblib.dump(values, folder.file("values.joblib"))
        return {k: v for k, v in state.items() if k not in values}

    def load(self, obj: Any, state: dict[str, Any], folder: ReadFolder) -> dict[str, Any]:
        import joblib

        return {**state, **joblib.load(folder.file("values.joblib"))}
