"""Initial weights drawn from the run's seed, however the model was built.

A config builds the model before the Trainer exists, so before the Trainer could seed anything. To give the same
initial weights on every fresh start (and on a restart before the first checkpoint), the Trainer builds the model
again from its config under the seed and takes its weights.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

import torchon

__all__ = ["extensions_header", "reseed_model"]

logger = logging.getLogger("torchon.torch")


def reseed_model(model: nn.Module, seed: int, log: logging.Logger) -> None:
    """Load into ``model`` the weights it gets when built from its config right after seeding with ``seed``.
    Models built in Python (no config) keep theirs; a rebuild that fails is warned about and the run goes on."""
    from torchon.api import DumpError, dump_yaml, loads

    try:
        text = dump_yaml(model, extensions_header())
    except DumpError as exc:
        logger.debug("model built in Python (%s): its initial weights are as built", exc)
        return
    try:
        fresh = loads(text, "<model>").build().root
        with torch.no_grad():
            model.load_state_dict(fresh.state_dict())
    except Exception as exc:  # the run can go on with the weights as built; say why they are not seeded
        log.warning("the model's initial weights are as built, not drawn from seed %s: %s", seed, exc)


def extensions_header() -> dict[str, str]:
    """The run's extensions as a config header another build (or process) can use: local paths made absolute."""
    env = torchon.get_env()
    header: dict[str, str] = {}
    for name, spec in env.extensions.items():
        resolved = env.resolved.get(name, {})
        path = resolved.get("path") if resolved.get("kind") == "local" else None
        header[name] = str(path) if path else spec
    return header
