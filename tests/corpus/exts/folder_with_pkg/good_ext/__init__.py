"""A local-path extension for the corpus tests."""

from pathlib import Path  # a re-export: configs must not be able to name it as !good_ext.Path

from torchon.component import Runnable


class Thing(Runnable):
    def __init__(self, size: int = 1) -> None:
        self.size = size

    def run(self) -> None:
        print(f"Thing of size {self.size} ran")


def make_thing() -> Thing:
    return Thing()


__all__ = ["Path", "Thing", "make_thing"]
