"""{{ cookiecutter.description }}

Configs name these classes with the package's name as prefix: ``!{{ cookiecutter.module_name }}.MyTrainer``,
``!{{ cookiecutter.module_name }}.LinearModel``. They are imported on first use (PEP 562 ``__getattr__``): torchon
imports this package every time it starts (through the plugin entry point), so importing it must stay cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "{{ cookiecutter.version }}"

# public name -> submodule defining it
_LAZY = {"LinearModel": "model", "MyTrainer": "trainer", "WeightsSaver": "savers"}

__all__ = ["LinearModel", "MyTrainer", "WeightsSaver"]

if TYPE_CHECKING:
    from .model import LinearModel
    from .savers import WeightsSaver
    from .trainer import MyTrainer


def __getattr__(name: str) -> Any:
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
