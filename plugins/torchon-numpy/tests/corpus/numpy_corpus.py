"""A test plugin: components holding numpy arrays (``!Table``, ``!Pair``) and an object only joblib saves
(``!Ratio``)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

import torchon
from torchon.api import TagRegistry, hookimpl


class Table(torchon.Component):
    """An array made in ``__init__``: state once trained in place, saved as ``.npy``."""

    def __init__(self, rows: int = 2, cols: int = 3) -> None:
        self.rows = rows
        self.cols = cols
        self.table = np.zeros((rows, cols), dtype=np.float32)


class Pair(torchon.Component):
    def __init__(self, first: Table, name: str = "pair") -> None:
        self.first = first
        self.name = name


class Ratio(torchon.Component):
    """Holds an object nothing but a code saver can save."""

    savers = ("joblib",)

    def __init__(self) -> None:
        self.value = Fraction(1, 3)


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    tags.add("Table", "numpy_corpus:Table")
    tags.add("Pair", "numpy_corpus:Pair")
    tags.add("Ratio", "numpy_corpus:Ratio")
