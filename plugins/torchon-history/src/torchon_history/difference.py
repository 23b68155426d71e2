"""The other way of overrides: the ones that turn one parsed config tree into another, as ``torchon compare``
shows two runs."""

from __future__ import annotations

import re
from typing import Any

from torchon.api import TagNode, contents, inline_yaml

__all__ = ["difference"]

_NAME = re.compile(r"[A-Za-z_][\w-]*")  # a key an override path writes as a name; other keys as [key]


def difference(before: Any, after: Any) -> list[str]:
    """Overrides that turn the config tree ``before`` into ``after`` (both parsed, below their top objects):
    given to ``before`` (``torchon run CONFIG OVERRIDE...``), they give a tree equal to ``after``."""
    out: list[str] = []
    _compare(before, after, "", out)
    return out


def _same_shape(a: Any, b: Any) -> bool:
    if isinstance(a, TagNode) or isinstance(b, TagNode):
        return isinstance(a, TagNode) and isinstance(b, TagNode) and (a.tag, a.form) == (b.tag, b.form)
    return (isinstance(a, dict) and isinstance(b, dict)) or (isinstance(a, list) and isinstance(b, list))


def _join(path: str, key: Any) -> str:
    if isinstance(key, str) and _NAME.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key}]"


def _compare(a: Any, b: Any, path: str, out: list[str]) -> None:
    if path and (not _same_shape(a, b) or (isinstance(a, TagNode) and a.form == "scalar")):
        text = inline_yaml(b)
        if inline_yaml(a) != text:
            out.append(f"{path}={text}")
        return
    (pa, na), (pb, nb) = contents(a), contents(b)
    for i in range(min(len(pa), len(pb))):
        _compare(pa[i], pb[i], f"{path}[{i}]", out)
    for i in range(len(pa) - 1, len(pb) - 1, -1):  # removals from the end: earlier indexes stay put
        out.append(f"~{path}[{i}]")
    for i in range(len(pa), len(pb)):
        out.append(f"+{path}[{i}]={inline_yaml(pb[i])}")
    for key in na:
        if key in nb:
            _compare(na[key], nb[key], _join(path, key), out)
        else:
            out.append("~" + _join(path, key))
    for key in nb:
        if key not in na:
            out.append(f"+{_join(path, key)}={inline_yaml(nb[key])}")
