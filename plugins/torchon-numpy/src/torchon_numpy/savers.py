"""``.npy`` for numpy arrays (read back without pickle) and joblib for what nothing else saves.

``npy`` is a ``data`` saver: loading it runs no code (``np.load`` with ``allow_pickle=False``). ``joblib`` is a
``code`` saver for objects nothing else can save (scikit-learn estimators, as Neuraxle's JoblibStepSaver): a
component opts in by listing it, and a bundle using it loads only with ``trust=True``. Names, protocols and files
are those the kernel wrote, so older bundles load unchanged.
"""

from __future__ import annotations

import io
import json
from typing import Any

from torchon.api import ReadFolder, Saver, WriteFolder, is_plain

__all__ = ["JoblibSaver", "NumpySaver"]


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
