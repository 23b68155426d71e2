"""Importing ``"module:attr"`` targets on first use: the laziness every registration relies on."""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

from torchon.errors import UserError

__all__ = ["TARGET_RE", "TargetImportError", "import_target"]

TARGET_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class TargetImportError(UserError, ImportError):
    """A registered target could not be imported; the message names the target and the reason."""


@functools.cache
def import_target(target: str) -> Any:
    """Import ``"package.module:Attr.sub"`` and return the attribute (kept: a target is looked up on every use)."""
    module_name, _, attr_path = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetImportError(f"cannot import {module_name!r} for {target!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetImportError(
                f"{module_name!r} has no attribute {attr_path!r} (target {target!r})"
            ) from None
    return obj
