"""Entry module of the torchon-overrides plugin: the hooks only; the override grammar is imported when a command
line has overrides, the completer when the shell asks for completions."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from torchon.api import hookimpl


@hookimpl
def torchon_apply_overrides(root: Any, overrides: Sequence[str], aliases: Mapping[Any, Any]) -> bool:
    from torchon_overrides.overrides import apply_overrides, parse_overrides

    apply_overrides(root, parse_overrides(overrides), aliases)
    return True


@hookimpl
def torchon_add_options(command: str, parser: argparse.ArgumentParser) -> None:
    """Complete ``torchon run CONFIG``'s overrides with the config's keys (argcomplete reads ``completer``)."""
    if command != "run":
        return
    for action in parser._actions:  # argparse's only way to reach an argument another module added
        if action.dest == "overrides":
            action.completer = _complete  # type: ignore[attr-defined]


def _complete(prefix: str, parsed_args: argparse.Namespace, **kwargs: Any) -> list[str]:
    from torchon_overrides.completion import complete_overrides

    return complete_overrides(prefix, parsed_args, **kwargs)
