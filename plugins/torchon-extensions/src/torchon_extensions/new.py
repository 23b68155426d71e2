"""``torchon new [NAME]``: bake a new extension package from the cookiecutter template torchon ships.

The template is package data of the ``torchon-extensions`` distribution
(``torchon_extensions/extension_template``), so this works from a wheel install as well as from a checkout.
cookiecutter is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

from torchon.api import Command

__all__ = ["NewCommand", "template_dir"]


def template_dir() -> Path:
    """The cookiecutter template inside the installed ``torchon_extensions`` package."""
    return Path(__file__).resolve().parent / "extension_template"


def _questions(template: Path) -> dict[str, object]:
    return dict(json.loads((template / "cookiecutter.json").read_text(encoding="utf-8")))


def _answers(values: list[str], known: list[str]) -> dict[str, str]:
    """``NAME`` and ``KEY=VALUE`` arguments as cookiecutter's extra context; ValueError says what is wrong."""
    answers: dict[str, str] = {}
    names = [v for v in values if "=" not in v]
    if len(names) > 1:
        raise ValueError(f"give one NAME, not {len(names)} ({', '.join(names)}); other answers as KEY=VALUE")
    if names:
        answers["module_name"] = names[0]
    for value in values:
        if "=" not in value:
            continue
        key, _, answer = value.partition("=")
        if key not in known:
            raise ValueError(f"the template asks no {key!r}; it asks: {', '.join(known)}")
        answers[key] = answer
    return answers


class NewCommand(Command):
    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.usage = "torchon new [NAME] [KEY=VALUE ...] [--no-input] [-o DIR]"
        parser.description = textwrap.fill(
            "Bake a new torchon extension package from the template torchon ships (cookiecutter): a pyproject "
            "with its entry point in group `torchon`, an example component, trainer and saver, an example "
            "config, tests and a README. NAME is the package's module name (what configs write, as in "
            "!NAME.MyTrainer). Asks for the other answers unless --no-input is given.",
            width=100,
        )
        parser.epilog = (
            "example: torchon new my_ext --no-input author='Ada Lovelace' version=0.2.0\n"
            f"answers: {', '.join(k for k in _questions(template_dir()) if not k.startswith('_'))}"
        )
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        _add_options(parser)
        # Options may come after NAME and KEY=VALUE (`torchon new my_ext --no-input`): the rest of the line is
        # taken whole and parsed again, intermixed, in run().
        parser.add_argument(
            "answers",
            nargs=argparse.REMAINDER,
            metavar="NAME | KEY=VALUE",
            help="the module name, and answers to the template's questions",
        )

    def run(self, args: argparse.Namespace) -> int:
        template = template_dir()
        known = [k for k in _questions(template) if not k.startswith("_")]
        rest = argparse.ArgumentParser(prog="torchon new", add_help=False)
        _add_options(rest)
        rest.add_argument("-p", "--plugin", action="append")  # already applied by the main parser
        rest.add_argument("--debug", action="store_true")
        rest.add_argument("answers", nargs="*")
        later = rest.parse_intermixed_args(args.answers)
        try:
            answers = _answers(later.answers, known)
        except ValueError as exc:
            print(f"torchon new: error: {exc}", file=sys.stderr)
            return 2
        no_input = args.no_input or later.no_input
        output_dir = later.output_dir if later.output_dir != "." else args.output_dir
        return bake(template, answers, no_input=no_input, output_dir=Path(output_dir))


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-input", action="store_true", help="ask nothing: use NAME, KEY=VALUE and the defaults"
    )
    parser.add_argument(
        "-o", "--output-dir", default=".", metavar="DIR", help="where to create the package folder"
    )


def bake(template: Path, answers: dict[str, str], *, no_input: bool, output_dir: Path) -> int:
    """Bake ``template`` into ``output_dir``; returns the exit status, printing what happened."""
    from cookiecutter.exceptions import CookiecutterException, FailedHookException, OutputDirExistsException
    from cookiecutter.main import cookiecutter

    from torchon import __version__

    # cookiecutter logs a traceback when a hook refuses the answers; the hook's own message is what matters
    logging.getLogger("cookiecutter").addHandler(logging.NullHandler())
    logging.getLogger("cookiecutter").propagate = False
    context = {"_torchon_version": __version__, **answers}
    try:
        with tempfile.TemporaryDirectory(prefix="torchon-new-") as tmp:
            # from a copy without bytecode: pip compiles the template's .py files when it installs the wheel, and
            # cookiecutter would copy their __pycache__ folders into the new package
            clean = shutil.copytree(
                template, Path(tmp) / template.name, ignore=shutil.ignore_patterns("__pycache__")
            )
            made = cookiecutter(
                str(clean), no_input=no_input, extra_context=context, output_dir=str(output_dir)
            )
        baked = Path(made)
    except FailedHookException:
        print(
            "torchon new: error: the template refused these answers (the reasons are above); nothing was written",
            file=sys.stderr,
        )
        return 2
    except OutputDirExistsException as exc:
        what = str(exc).removeprefix("Error: ")
        print(f"torchon new: error: {what}; choose another name or remove it", file=sys.stderr)
        return 2
    except (CookiecutterException, OSError) as exc:
        print(f"torchon new: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, EOFError):
        print("torchon new: interrupted; nothing was written", file=sys.stderr)
        return 130
    shown = _shown(baked)
    print(f"Baked {baked.name} in {shown}. Next:")
    print(f"  cd {shown}")
    print("  python -m pip install -e .")
    print("  python -m pytest")
    print("  torchon run examples/train.yaml")
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
