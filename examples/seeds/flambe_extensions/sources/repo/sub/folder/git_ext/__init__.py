"""The extension in a folder of a git repository: ``sub/folder`` on branch ``dev`` holds this package."""

import torchon


class Scale(torchon.Component):
    """Multiplies by ``factor``."""

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor

    def __call__(self, value):
        return value * self.factor
