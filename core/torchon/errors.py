"""torchon's error hierarchy: every error torchon raises on purpose is a :class:`TorchonError`.

A :class:`UserError` is one a user can act on: ``torchon.cli.main`` prints its message and exits with its
``exit_code``, without a traceback unless ``--debug``. Each module's own errors subclass these, keeping the built-in
class they always had (``ValueError``, ``ImportError``, ...) so existing ``except`` clauses still catch them.
"""

from __future__ import annotations

__all__ = ["ArgumentError", "RunFailed", "TorchonError", "UsageError", "UserError", "report_error"]


class TorchonError(Exception):
    """Base of every error torchon raises on purpose."""

    exit_code: int = 1

    def format(self) -> str:
        """The whole message as the command line prints it."""
        return f"torchon: error: {self}"


class UserError(TorchonError):
    """Something the user can fix; printed without a traceback. ``exit_code`` 2 for usage, 1 otherwise."""


class UsageError(UserError):
    """The command line asks for something that cannot be (an unknown executor, a bad option value)."""

    exit_code = 2


def report_error(exc: UserError, *, debug: bool = False) -> int:
    """Print ``exc`` as the command line does (its traceback too under ``debug``); its exit code."""
    import sys
    import traceback

    if debug:
        traceback.print_exception(exc)
    print(exc.format(), file=sys.stderr)
    return exc.exit_code


class ArgumentError(UserError, ValueError):
    """An argument of a component has a value it cannot take: raised from ``__init__``, it is reported at that
    argument's place in the config (at the tag when not written), with ``fix``, like any config error."""

    def __init__(self, argument: str, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.fix = fix


class RunFailed(TorchonError):
    """The work failed for a reason the runnable can state (a script's exit status, a NaN loss): ``torchon run``
    prints the message, records ``exit_status`` in ``run.json`` and exits with 1."""

    def __init__(self, message: str, *, exit_status: int | None = None) -> None:
        super().__init__(message)
        self.exit_status = exit_status
