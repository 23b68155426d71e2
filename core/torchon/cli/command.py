"""What a subcommand is: registered by name through ``torchon_register_commands``, imported when used."""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod

__all__ = ["Command"]


class Command(ABC):
    """A ``torchon`` subcommand."""

    #: The list argument (``nargs="*"``) that also takes the positional words given after options, as in
    #: ``torchon run exp.yaml --check a.b=1``; None: such words are an error.
    trailing: str | None = None

    @abstractmethod
    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add this command's arguments to ``parser``."""

    @abstractmethod
    def run(self, args: argparse.Namespace) -> int:
        """Do the work; return the exit status (0 ok, 1 the work failed, 2 bad usage or config)."""
