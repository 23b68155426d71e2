"""Errors components and runnables raise to fail cleanly, without a traceback for the user to read."""

from __future__ import annotations

__all__ = ["ArgumentError", "RunFailed"]


class ArgumentError(ValueError):
    """An argument of a component has a value it cannot take, found when the component is built.

    Raised from ``__init__``, it is reported at that argument's own place in the config
    (``FILE:LINE:COL: error: !Trainer: argument 'val_metric': ...``; at the tag when the argument is not written),
    with ``fix`` as the fix, and ``torchon run`` exits with status 2 like for any config error. Elsewhere it is a
    plain ``ValueError``.
    """

    def __init__(self, argument: str, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.fix = fix


class RunFailed(Exception):
    """The work failed for a reason the runnable can state (a script's exit status, a NaN loss).

    ``torchon run`` prints the message, records ``exit_status`` in the run's ``run.json`` and exits with 1.
    """

    def __init__(self, message: str, *, exit_status: int | None = None) -> None:
        super().__init__(message)
        self.exit_status = exit_status
