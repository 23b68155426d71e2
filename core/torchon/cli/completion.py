"""Shell completion through argcomplete (the extra ``torchon[completion]``): commands and options, and whatever
plugins attach to their arguments (torchon-overrides: a config's keys). Nothing here runs, and argcomplete is not
imported, unless the shell asks for completions (``_ARGCOMPLETE`` in the environment)."""

from __future__ import annotations

import argparse
import os
import shlex

__all__ = ["completion_argv", "offer"]


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
