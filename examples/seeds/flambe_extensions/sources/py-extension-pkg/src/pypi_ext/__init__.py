"""The extension published on PyPI as py-extension-pkg 1.0 (the module it provides is ``pypi_ext``)."""

import torchon


class Numbers(torchon.Component):
    """The numbers 1 to ``count``."""

    def __init__(self, count: int = 3) -> None:
        self.count = count

    def values(self) -> list[int]:
        return list(range(1, self.count + 1))
