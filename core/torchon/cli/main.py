"""``torchon``: loads plugins, builds the parser from the commands they register, dispatches. Only the chosen
command's module is imported, so ``torchon --help`` and ``torchon plugins`` stay fast."""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torchon import __version__
from torchon.errors import UsageError, UserError, report_error
from torchon.first_party import first_party
from torchon.importing import TargetImportError
from torchon.plugins import PluginManager, set_manager

if TYPE_CHECKING:
    from torchon.cli.command import Command

__all__ = ["main"]

EPILOG = """\
environment:
  TORCHON_DISABLE_PLUGIN_AUTOLOAD=1   do not load plugins from entry points (use -p NAME to load some)
  TORCHON_DENY_PLUGINS=a,b            never load these plugins

Run `torchon COMMAND --help` for a command's options; `torchon plugins` lists what is installed.
"""


def _scan(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """The ``-p`` values and the command word (the first argument that is not an option), read before parsing:
    they decide which plugins, and so which commands, exist."""
    plugins: list[str] = []
    word = None
    args = iter(argv)
    for arg in args:
        if arg == "--":
            return plugins, word or arg
        if arg in ("-p", "--plugin"):
            plugins.extend(itertools.islice(args, 1))  # its value, if there is one
        elif arg.startswith("--plugin="):
            plugins.append(arg.split("=", 1)[1])
        elif arg.startswith("-p"):  # -pNAME
            plugins.append(arg[2:])
        elif not arg.startswith("-") and word is None:
            word = arg
    return plugins, word


def _add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``-p`` and ``--debug``, before or after the command (``-p`` is read before parsing, by :func:`_scan`); the
    command's own leave the top's values alone unless given."""
    unset: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    dest = "plugin_top" if top else "plugin_sub"
    text = "load only plugin NAME (repeatable; an entry-point, distribution or module name); -p no:NAME leaves NAME out"
    parser.add_argument("-p", "--plugin", dest=dest, action="append", metavar="NAME", help=text, **unset)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs", **unset)


def build_parser(
    manager: PluginManager, chosen: str | None
) -> tuple[argparse.ArgumentParser, Command | None]:
    """The parser, with only the chosen command's arguments configured (and its command object)."""
    about = "torchon: run ML experiments from YAML configs of objects, save and load them as bundles."
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="torchon", description=about, epilog=EPILOG, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"torchon {__version__}")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    command = None
    for entry in manager.commands:
        sp = sub.add_parser(entry.name, help=entry.help, description=entry.help)
        _add_common(sp, top=False)
        if entry.name == chosen:
            command = entry.load()()
            command.configure(sp)
            manager.add_options(entry.name, sp)
    return parser, command


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torchon`` script; returns the exit status. A :class:`~torchon.errors.UserError` from
    anywhere below is printed here, once, without a traceback (unless ``--debug``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except UserError as exc:
        return report_error(exc, debug="--debug" in argv)
    except KeyboardInterrupt:
        print("torchon: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str]) -> int:
    completing = "_ARGCOMPLETE" in os.environ  # the shell asks for completions (torchon[completion])
    if completing:
        from torchon.cli.completion import completion_argv

        argv = completion_argv()
    plugins, asked = _scan(argv)
    manager = PluginManager.from_options(plugins)
    set_manager(manager)
    chosen = asked if asked in manager.commands.names() else None
    dist = first_party("commands", asked) if chosen is None and asked else None
    if dist:
        raise UsageError(
            f"unknown command {asked!r}: it comes from the {dist} plugin; install it (pip install {dist}), or "
            "check that -p or TORCHON_DENY_PLUGINS does not leave it out"
        )
    try:
        parser, command = build_parser(manager, chosen)
    except TargetImportError as exc:
        entry = manager.commands.get(chosen or "")
        owner = manager.describe_plugin(entry.plugin) if entry else "a plugin"
        print(f"torchon: error: command {chosen!r} of {owner} cannot be loaded: {exc}", file=sys.stderr)
        return 2
    if completing:
        from torchon.cli.completion import offer

        offer(parser)  # prints the completions and exits (when argcomplete is installed)
    args, extra = parser.parse_known_args(argv)
    trailing = getattr(command, "trailing", None)
    if extra and (trailing is None or any(word.startswith("-") for word in extra)):
        parser.error("unrecognized arguments: " + " ".join(extra))
    if extra and trailing is not None:  # overrides given after options: torchon run exp.yaml --check a=1
        setattr(args, trailing, [*getattr(args, trailing), *extra])
    if command is None:
        parser.print_help()
        return 2 if argv else 0
    return int(command.run(args))
