"""Config errors a user can act on: ``FILE:LINE:COL: error: what``, the line itself, and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from torchon.errors import UserError

__all__ = ["COMMAND_LINE", "ConfigError", "Mark", "closest", "did_you_mean"]

#: The source name of errors in the command line's overrides: ``<command line>:N:COL`` is column COL of the N-th.
COMMAND_LINE = "<command line>"


class Mark(NamedTuple):
    """A position in a config file, 1-based like compilers print it (a tuple: made for every node, so cheap)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class ConfigError(UserError):
    """A config cannot be run as written. ``torchon run`` prints it and exits with status 2."""

    exit_code = 2

    def __init__(self, what: str, mark: Mark | None = None, *, fix: str, path: str | None = None) -> None:
        self.what = what
        self.mark = mark
        self.fix = fix
        self.path = path
        self.source_line: str | None = None
        super().__init__(self.headline())

    def headline(self) -> str:
        where = f"{self.mark}: " if self.mark else ""
        at = f" (at {self.path})" if self.path else ""
        return f"{where}error: {self.what}{at}"

    def format(self) -> str:
        """The full message: headline, the offending line with a caret, and the fix."""
        lines = [self.headline()]
        if self.mark and self.source_line is not None:
            gutter = f"{self.mark.line:>5} | "
            caret = " " * (len(gutter) - 2) + "| " + " " * (self.mark.col - 1) + "^"
            lines += [gutter + self.source_line.rstrip("\n"), caret]
        return "\n".join([*lines, f"  fix: {self.fix}"])

    def attach_source(self, text: str | Mapping[str, str]) -> ConfigError:
        """Remember the offending line of ``text`` (the config's source, or sources by file name: the config's
        and the command line's overrides) for :meth:`format`."""
        if self.mark is not None and self.source_line is None:
            source_lines = (text.get(self.mark.file, "") if isinstance(text, Mapping) else text).splitlines()
            if 0 < self.mark.line <= len(source_lines):
                self.source_line = source_lines[self.mark.line - 1]
        return self

    def __str__(self) -> str:
        return f"{self.headline()}; fix: {self.fix}"


def closest(name: str, candidates: Iterable[str]) -> list[str]:
    """Up to three candidates close to ``name``, best first (case-insensitive as a fallback)."""
    pool = list(dict.fromkeys(candidates))
    lowered = {c.lower(): c for c in pool}
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    if not close and name.lower() in lowered:
        close = [lowered[name.lower()]]
    if not close:
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)]
    return close


def did_you_mean(name: str, candidates: Iterable[str], *, prefix: str = "") -> str:
    """`` (did you mean !Trainer?)`` for the closest candidates, or an empty string."""
    close = closest(name, candidates)
    return " (did you mean " + " or ".join(f"{prefix}{c}" for c in close) + "?)" if close else ""
