"""Shell completion of overrides: a config's keys, as ``torchon run exp.yaml optim<TAB>`` -> ``optimizer.lr=``
(through argcomplete, which the kernel calls when the shell asks)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["complete_overrides", "config_paths"]


def config_paths(root: Any) -> Iterator[str]:
    """Every path an override can address in a parsed config tree, parents first: ``optimizer``,
    ``optimizer.lr``, ``model[0]``, ``model[0].out_features``."""
    from torchon.api import contents

    def below(value: Any, prefix: str) -> Iterator[str]:
        positional, named = contents(value)
        places = [(f"{prefix}[{i}]", child) for i, child in enumerate(positional)] if prefix else []
        places += [(f"{prefix}.{key}" if prefix else str(key), child) for key, child in named.items()]
        for path, child in places:
            yield path
            yield from below(child, path)

    yield from below(root, "")


def complete_overrides(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """argcomplete's completer of OVERRIDE: the config's paths as ``PATH=`` (``~PATH`` after a ``~``)."""
    from torchon.api import parse_documents

    config = getattr(parsed_args, "config", None)
    if not config or "=" in prefix:
        return []
    try:
        docs = parse_documents(Path(config).read_text(encoding="utf-8"), config)
        root = [d for d in docs if d is not None][-1]
    except Exception:  # an unreadable, broken or empty config: nothing to offer
        return []
    mark = prefix[:1] if prefix[:1] in "~+" else ""
    typed = prefix[len(mark) :]
    suffix = "" if mark == "~" else "="
    return [f"{mark}{path}{suffix}" for path in config_paths(root) if path.startswith(typed)]
