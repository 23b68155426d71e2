"""A config as MLflow params, and names as MLflow takes them. Imports no mlflow.

A config's values become one param per leaf, named by its key path as the search's results table names a
search-space dimension (``optimizer.lr``), except that MLflow's names take no brackets: an item of a list is
``model.0.out_features`` where the table writes ``model[0].out_features``. Tags, links and search spaces are
written as in the config (``!torch.optim.Adam``, ``!@ train.model``, ``!loguniform [0.0001, 0.03]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from torchon.api import LinkNode, TagNode

__all__ = ["MAX_KEY", "MAX_PARAM_VALUE", "config_params", "key", "param_value"]

MAX_KEY = 250  # MLflow's longest param, metric and tag name
MAX_PARAM_VALUE = 6000  # MLflow's longest param value
_BAD = re.compile(r"[^\w./\- :]")  # what MLflow's names may not hold (letters, digits, _ . / - space : may)


def key(name: str) -> str:
    """``name`` as MLflow takes it: ``a[0].b`` -> ``a.0.b``; other characters MLflow refuses become ``_``."""
    text = re.sub(r"\[([^\]]*)\]", r".\1", str(name)).lstrip(".")
    text = _BAD.sub("_", text)
    text = (
        re.sub(r"/+", "/", text).strip("/") or "_"
    )  # MLflow refuses names that normalise as paths to others
    text = "/".join(part if part not in (".", "..") else "_" for part in text.split("/"))
    return text[:MAX_KEY]


def param_value(value: Any) -> str:
    """A param's value as text (YAML's spelling of true, false and null), cut to MLflow's limit."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        text = _inline(value)
    return text if len(text) <= MAX_PARAM_VALUE else text[: MAX_PARAM_VALUE - 3] + "..."


def _inline(value: Any) -> str:
    """A config value on one line, as it is written: tags, links and search spaces as in YAML."""
    if isinstance(value, LinkNode):
        return f"!@ {value.text}"
    if isinstance(value, TagNode):
        inner = value.raw
        if inner in (None, "") or (isinstance(inner, Mapping) and not inner):
            return value.label
        return f"{value.label} {_inline(inner)}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, str):
        return (
            json.dumps(value)
            if (not value or any(c in value for c in ",:[]{}#") or value != value.strip())
            else value
        )
    return param_value(value)


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, TagNode) and value.kind != "value" and (value.kwargs or value.args):
        # a component: its tag under its own path, its arguments below it
        if path:
            yield path, value.label
        for i, arg in enumerate(value.args):
            yield from _leaves(arg, f"{path}[{i}]")
        for name, arg in value.kwargs.items():
            yield from _leaves(arg, f"{path}.{name}" if path else str(name))
    elif isinstance(value, Mapping) and value:
        for name, item in value.items():
            yield from _leaves(item, f"{path}.{name}" if path else str(name))
    elif isinstance(value, (list, tuple)) and value and not all(_scalar(v) for v in value):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    elif path:
        yield path, value if _scalar(value) else _inline(value)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def config_params(root: Any) -> dict[str, str]:
    """The params of a config's tree (its top object's arguments, flattened), names as MLflow takes them.

    A list of plain values is one param (``metrics: [accuracy]``); a list of objects is one per item. A value
    whose name comes out the same as an earlier one's (``a_b`` and ``a b``) keeps the first.
    """
    params: dict[str, str] = {}
    for path, value in _leaves(root, ""):
        params.setdefault(key(path), param_value(value))
    return params
