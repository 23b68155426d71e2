"""``torchon run CONFIG``."""

from __future__ import annotations

import argparse

from torchon.cli.command import Command

__all__ = ["RunCommand"]


class RunCommand(Command):
    trailing = "overrides"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Build the object a config describes and run it, writing the config as run, its lock (torchon.lock), "
            "logs and metrics to an output folder (default: runs/<config name>/<timestamp>). Exit status: 0 done, "
            "1 the run failed, 2 bad usage or config."
        )
        parser.add_argument("config", metavar="CONFIG", help="the YAML config to run")
        parser.add_argument(
            "overrides",
            metavar="OVERRIDE",
            nargs="*",
            help="change the config without editing it: PATH=VALUE replaces a value (train.optimizer.lr=0.003, "
            "'train.model[0].out_features=256'), +PATH=VALUE adds a key, ~PATH removes one; VALUE is YAML, so "
            "tags and links work as in the file (with torchon-overrides)",
        )
        parser.add_argument("-o", "--output", metavar="OUT", help="output folder for this run")
        mode = parser.add_mutually_exclusive_group()
        resume = "continue the run in OUT (or the latest run of this config) where it stopped"
        mode.add_argument("--resume", action="store_true", help=resume)
        mode.add_argument("--force", action="store_true", help="replace what OUT holds")
        dry = parser.add_mutually_exclusive_group()
        dry.add_argument(
            "--check",
            action="store_true",
            help="check the config (YAML, tags, links, arguments, extensions, overrides) and exit: 0 if it would "
            "run, 2 if not; nothing is built or written",
        )
        dry.add_argument(
            "--print-config",
            action="store_true",
            help="print the config as it would run (with the overrides applied), after checking it; nothing is "
            "built or written",
        )
        parser.add_argument(
            "--install-extensions",
            action="store_true",
            help="install the header's git and PyPI extensions that are missing (git: cloned into torchon's "
            "cache at the resolved commit; PyPI: with pip) and its local project folders (editable), into this "
            "Python environment; comes with torchon-extensions",
        )
        parser.add_argument(
            "--locked",
            metavar="LOCKFILE",
            help="install the extensions exactly as LOCKFILE (a torchon.lock a run wrote) records them: git at "
            "its commit, PyPI at its version; refuse to run if the installed plugins differ from it",
        )

    def run(self, args: argparse.Namespace) -> int:
        from torchon.plugins import get_manager
        from torchon.runner import run_config

        dry = args.check or args.print_config  # plugins' options are applied (checked) only for a real run
        return run_config(
            args.config,
            output=args.output,
            resume=args.resume,
            force=args.force,
            check=args.check,
            print_config=args.print_config,
            debug=bool(getattr(args, "debug", False)),
            install_extensions=args.install_extensions,
            locked=args.locked,
            options=None if dry else get_manager().apply_options("run", args),
            overrides=args.overrides,
        )
