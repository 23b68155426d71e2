"""``torchon plugins``: what is installed, what each plugin registers, what failed and why."""

from __future__ import annotations

import argparse

from torchon.cli.command import Command
from torchon.plugins import PluginInfo, get_manager

__all__ = ["PluginsCommand", "format_plugins"]

# The kernel's tables in this order, then those plugins add (torchon-search's executors), commands last.
_FIRST, _LAST = ("tags", "namespaces", "savers", "storage", "resolvers"), ("commands",)
_FORMAT = {"tags": "!{}", "namespaces": "!{}.*"}  # how a table's names are shown; the others as they are


def _registered(info: PluginInfo, hooks: list[str]) -> str:
    parts = []
    added = [table for table in info.registered if table not in _FIRST + _LAST]
    for table in (*_FIRST, *added, *_LAST):
        names = info.registered.get(table)
        if names:
            shown = ", ".join(_FORMAT.get(table, "{}").format(n) for n in names)
            parts.append(f"{table}: {shown}")
    if hooks:  # what a plugin does besides registering names (torchon-overrides: apply_overrides)
        parts.append(f"hooks: {', '.join(hooks)}")
    return "; ".join(parts) or "-"


def format_plugins(timings: bool = False) -> tuple[str, int]:
    """The listing and the exit status (1 when a plugin failed or two clash)."""
    manager = get_manager()
    loaded = [p for p in manager.plugins.values() if p.loaded]
    failed = manager.failed()
    rows = [("PLUGIN", "DISTRIBUTION", "VERSION", *(("LOAD",) if timings else ()), "REGISTERS")]
    for info in loaded:
        dist = f"{info.distribution} (builtin)" if info.builtin else info.distribution
        timing = (f"{info.seconds * 1000:.1f}ms",) if timings else ()
        rows.append(
            (info.name, dist, info.version or "-", *timing, _registered(info, manager.hooks_of(info.name)))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1] for row in rows]
    lines = [line.rstrip() for line in lines]
    for info in failed:
        after = f" after {info.seconds * 1000:.1f}ms" if timings else ""
        module = info.distribution == "(module)"
        origin = f"module {info.module}" if module else f"{info.distribution} {info.version}"
        lines.append(f"FAILED {info.name} ({origin.strip()}){after}: {info.error}")
    for conflict in manager.conflicts():
        lines.append(f"CONFLICT {manager.conflict_message(conflict)}")
    if timings:
        total = sum(p.seconds for p in manager.plugins.values())
        lines.append(f"total plugin load time: {total * 1000:.1f}ms")
    status = 1 if failed or manager.conflicts() else 0
    return "\n".join(lines), status


class PluginsCommand(Command):
    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--timings", action="store_true", help="show how long each plugin took to load")

    def run(self, args: argparse.Namespace) -> int:
        text, status = format_plugins(args.timings)
        print(text)
        return status
