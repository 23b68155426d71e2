"""Errors a runnable raises to fail a run cleanly, without a traceback for the user to read."""

from __future__ import annotations

__all__ = ["RunFailed"]


class RunFailed(Exception):
    """The work failed for a reason the runnable can state (a script's exit status, a NaN loss).

    ``torchon run`` prints the message, records ``exit_status`` in the run's ``run.json`` and exits with 1.
    """

    def __init__(self, message: str, *, exit_status: int | None = None) -> None:
        super().__init__(message)
        self.exit_status = exit_status
