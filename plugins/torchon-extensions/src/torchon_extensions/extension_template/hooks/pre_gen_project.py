"""Refuse answers that would bake a package that cannot work, before anything is written.

cookiecutter runs this hook after the prompts and before rendering; exiting non-zero stops the bake.
"""

import keyword
import re
import sys

MODULE = {{ cookiecutter.module_name | tojson }}
DISTRIBUTION = {{ cookiecutter.distribution_name | tojson }}
VERSION = {{ cookiecutter.version | tojson }}


def problems() -> list[str]:
    found = []
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", MODULE):
        found.append(
            f"module_name {MODULE!r} is not a valid Python module name: use letters, digits and underscores, "
            "not starting with a digit (configs write it as the tag prefix, e.g. !my_ext.MyTrainer)"
        )
    elif keyword.iskeyword(MODULE) or keyword.issoftkeyword(MODULE):
        found.append(f"module_name {MODULE!r} is a Python keyword; it cannot be imported")
    elif MODULE in sys.stdlib_module_names or MODULE == "torchon":
        owner = "torchon" if MODULE == "torchon" else "Python"
        found.append(f"module_name {MODULE!r} would shadow {owner}'s own module of that name")
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", DISTRIBUTION):
        found.append(
            f"distribution_name {DISTRIBUTION!r} is not a valid distribution name: letters, digits, '-', '_' "
            "and '.', starting and ending with a letter or digit"
        )
    if not re.fullmatch(r"\d+(\.\d+)*([ab]|rc)?\d*(\.dev\d+)?", VERSION):
        found.append(f"version {VERSION!r} is not a version number such as 0.1.0")
    return found


if __name__ == "__main__":
    errors = problems()
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)
