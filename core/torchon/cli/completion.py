"""Shell completion through argcomplete (the extra ``torchon[completion]``), a config's keys as overrides
included (``torchon run exp.yaml optim<TAB>`` -> ``optimizer.lr=``). Nothing here runs, and argcomplete is not
imported, unless the shell asks for completions (``_ARGCOMPLETE`` in the environment)."""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["complete_overrides", "completion_argv", "config_paths", "offer"]


def completion_argv() -> list[str]:
    """The words typed so far (the command line up to the cursor, without the program): which command's
    arguments to configure."""
    line = os.environ.get("COMP_LINE", "")[: int(os.environ.get("COMP_POINT", "0") or 0) or None]
    try:
        words = shlex.split(line)
    except ValueError:  # an open quote
        words = line.split()
    return words[1:]


def offer(parser: argparse.ArgumentParser) -> None:
    """Print the completions argcomplete finds and exit, when the shell asks for them; else do nothing."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def config_paths(root: Any) -> Iterator[str]:
    """Every path an override can address in a parsed config tree, parents first: ``optimizer``,
    ``optimizer.lr``, ``model[0]``, ``model[0].out_features``."""
    from torchon.config.nodes import contents

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
    from torchon.config.yaml_loader import parse_documents

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
