"""``torchon``: loads plugins, builds the parser from the commands they register, dispatches.

Only the chosen command's module is imported, so ``torchon --help`` and ``torchon plugins`` stay fast.
Exit statuses: 0 success, 1 the work failed, 2 bad usage or a bad config.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from torchon import __version__
from torchon.errors import UserError, report_error

__all__ = ["main"]

EPILOG = """\
environment:
  TORCHON_DISABLE_PLUGIN_AUTOLOAD=1   do not load plugins from entry points (use -p NAME to load some)
  TORCHON_DENY_PLUGINS=a,b            never load these plugins

Run `torchon COMMAND --help` for a command's options; `torchon plugins` lists what is installed.
"""


def _plugin_options(argv: Sequence[str]) -> list[str]:
    """The ``-p`` values, read before parsing: they decide which plugins (and so commands) exist."""
    values: list[str] = []
    it = iter(range(len(argv)))
    for i in it:
        arg = argv[i]
        if arg == "--":
            break
        if arg in ("-p", "--plugin") and i + 1 < len(argv):
            values.append(argv[i + 1])
            next(it, None)
        elif arg.startswith("--plugin="):
            values.append(arg.split("=", 1)[1])
        elif arg.startswith("-p") and len(arg) > 2 and not arg.startswith("--"):
            values.append(arg[2:])
    return values


def _command_word(argv: Sequence[str]) -> str | None:
    """The first argument that is not an option: the command asked for, registered or not."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("-p", "--plugin"):
            skip = True
            continue
        if arg == "--" or not arg.startswith("-"):
            return arg
    return None


def _command_name(argv: Sequence[str], commands: Sequence[str]) -> str | None:
    word = _command_word(argv)
    return word if word in commands else None


def _add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "-p",
        "--plugin",
        dest="plugin_top" if top else "plugin_sub",
        action="append",
        metavar="NAME",
        default=default,
        help="load only plugin NAME (repeatable; an entry-point, distribution or module name); "
        "-p no:NAME leaves NAME out",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show tracebacks and debug logs",
    )


def build_parser(manager: object, chosen: str | None) -> tuple[argparse.ArgumentParser, object | None]:
    """The parser, with only the chosen command's arguments configured (and its command object)."""
    from torchon.plugins import PluginManager

    assert isinstance(manager, PluginManager)
    parser = argparse.ArgumentParser(
        prog="torchon",
        description="torchon: run ML experiments from YAML configs of objects, save and load them as bundles.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    """Entry point of the ``torchon`` script; returns the exit status.

    A :class:`~torchon.errors.UserError` from anywhere below is printed here, once, without a traceback (with one
    under ``--debug``), and its ``exit_code`` returned.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except UserError as exc:
        return report_error(exc, debug="--debug" in argv)
    except KeyboardInterrupt:
        print("torchon: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str]) -> int:
    from torchon.errors import UsageError
    from torchon.first_party import first_party
    from torchon.importing import TargetImportError
    from torchon.plugins import PluginManager, set_manager

    completing = "_ARGCOMPLETE" in os.environ  # the shell asks for completions (torchon[completion])
    if completing:
        from torchon.cli.completion import completion_argv

        argv = completion_argv()
    manager = PluginManager.from_options(_plugin_options(argv))
    set_manager(manager)
    chosen = _command_name(argv, manager.commands.names())
    asked = _command_word(argv)
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
    return int(command.run(args))  # type: ignore[attr-defined]
