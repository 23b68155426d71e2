"""Components for the bundle tests: a user saver, a code saver, a versioned class. Not registered as tags, so
bundles declare this module as an extension in their config header."""

from __future__ import annotations

import json
import pickle
import queue
from fractions import Fraction
from typing import Any

from torchon.bundle.savers import is_plain
from torchon.component import Component
from torchon.saver import Saver


class QueueSaver(Saver):
    """Drops queue.Queue values on save, makes fresh ones on load."""

    name = "queue"
    safety = "data"

    def can_save(self, obj: Any, state: dict[str, Any]) -> bool:
        return any(isinstance(v, queue.Queue) for v in state.values())

    def save(self, obj, state, folder):  # type: ignore[no-untyped-def]
        names = sorted(k for k, v in state.items() if isinstance(v, queue.Queue))
        folder.write_text("queues.json", json.dumps(names))
        return {k: v for k, v in state.items() if k not in names}

    def load(self, obj, state, folder):  # type: ignore[no-untyped-def]
        return {**state, **{n: queue.Queue() for n in json.loads(folder.read_text("queues.json"))}}


class Worker(Component):
    savers = (QueueSaver,)

    def __init__(self, name: str) -> None:
        self.name = name
        self.jobs: queue.Queue[int] = queue.Queue()
        self.done = 0


class PickleSaver(Saver):
    """A code saver: what is not plain data, pickled (loading it runs code, so only with trust=True)."""

    name = "pickle"
    safety = "code"

    def can_save(self, obj: Any, state: dict[str, Any]) -> bool:
        return any(not is_plain(v) for v in state.values())

    def save(self, obj, state, folder):  # type: ignore[no-untyped-def]
        values = {k: v for k, v in state.items() if not is_plain(v)}
        folder.write_bytes("values.pkl", pickle.dumps(values))
        return {k: v for k, v in state.items() if k not in values}

    def load(self, obj, state, folder):  # type: ignore[no-untyped-def]
        return {**state, **pickle.loads(folder.read_bytes("values.pkl"))}


class Estimator(Component):
    """Holds an object nothing but a code saver can save."""

    savers = (PickleSaver,)

    def __init__(self) -> None:
        self.ratio = Fraction(1, 3)


class JoblibRatio(Component):
    """Lists torchon-numpy's ``joblib`` saver by name (the kernel's tests run without that plugin)."""

    savers = ("joblib",)

    def __init__(self) -> None:
        self.value = Fraction(1, 3)


class Counter(Component):
    VERSION = 3

    def __init__(self) -> None:
        self.total = 0

    @classmethod
    def upgrade_state(cls, state: dict[str, Any], version: int) -> dict[str, Any]:
        if version == 1:  # VERSION 1 called it "count"
            state = {"total": state.pop("count")}
        elif version == 2:  # VERSION 2 counted in tens
            state = {"total": state["total"] * 10}
        return state


class Holder(Component):
    """State no saver can handle (and no code saver listed)."""

    def __init__(self) -> None:
        self.lock = Fraction(1, 2)


class Blob(Component):
    """A component with a large array, for interrupting saves."""

    def __init__(self, version: int, size: int = 4_000_000) -> None:
        import numpy as np

        self.version = version
        self.data = np.full(size, version, dtype=np.float32)
