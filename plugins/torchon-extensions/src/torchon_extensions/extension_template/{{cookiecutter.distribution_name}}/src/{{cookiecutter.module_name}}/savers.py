"""An example saver: a model's learned weights as a small JSON file in the bundle."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from torchon import Saver

if TYPE_CHECKING:
    from torchon.api import ReadFolder, WriteFolder

_KEYS = ("weight", "bias")


class WeightsSaver(Saver):
    """Takes ``weight`` and ``bias`` out of a component's state on save, and puts them back on load.

    ``safety = "data"``: loading reads JSON and runs no code, so bundles holding it load without ``trust=True``.
    Bump ``protocol`` if the file it writes ever changes.
    """

    name = "{{ cookiecutter.module_name }}_weights"
    safety = "data"
    protocol = 1

    def can_save(self, obj: Any, state: dict[str, Any]) -> bool:
        return all(key in state for key in _KEYS)

    def save(self, obj: Any, state: dict[str, Any], folder: WriteFolder) -> dict[str, Any]:
        rest = dict(state)
        weights = {key: float(rest.pop(key)) for key in _KEYS}
        folder.write_text("weights.json", json.dumps(weights))
        return rest

    def load(self, obj: Any, state: dict[str, Any], folder: ReadFolder) -> dict[str, Any]:
        return {**state, **json.loads(folder.read_text("weights.json"))}
