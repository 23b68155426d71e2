"""An example component: the smallest model that can learn something."""

from __future__ import annotations

from torchon import Component


class LinearModel(Component):
    """``y = weight * x + bias``.

    Constructor arguments are the model's configuration (saved as the config); the learned ``weight`` and
    ``bias`` are its state, which :class:`~{{ cookiecutter.module_name }}.savers.WeightsSaver` saves (``savers``
    names it as the plugin registered it).
    """

    VERSION = 1
    savers = ("{{ cookiecutter.module_name }}_weights",)

    def __init__(self, init: float = 0.0) -> None:
        self.init = init
        self.weight = init
        self.bias = 0.0

    def predict(self, x: float) -> float:
        return self.weight * x + self.bias
