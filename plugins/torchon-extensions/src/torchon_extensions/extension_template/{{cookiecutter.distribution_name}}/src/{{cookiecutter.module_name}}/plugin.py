"""The plugin's entry module: registers names with torchon, imports nothing heavy.

torchon imports this module each time it starts, even for ``torchon --help``, so it only maps names to
``"module:attr"`` strings; the targets are imported when a config or a bundle uses them. Import torch, data
libraries and the like inside the classes' modules, never here.
"""

from __future__ import annotations

from torchon.api import SaverRegistry, TagRegistry, hookimpl


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    # Any class of the package can be written `!{{ cookiecutter.module_name }}.ClassName` in a config, with no
    # header line: the package is installed, so it is a namespace rather than a header extension.
    tags.add_namespace("{{ cookiecutter.module_name }}", "{{ cookiecutter.module_name }}", help="the package's classes")


@hookimpl
def torchon_register_savers(savers: SaverRegistry) -> None:
    savers.add(
        "{{ cookiecutter.module_name }}_weights",
        "{{ cookiecutter.module_name }}.savers:WeightsSaver",
        safety="data",
        help="LinearModel's weights as JSON",
    )
