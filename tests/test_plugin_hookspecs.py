"""Hooks a plugin adds (``torchon_add_hookspecs``, pytest's ``pytest_addhooks``): a registration spec makes a table
other plugins fill, whichever loads first, and a lifecycle spec is called as the kernel's are; a hook no loaded
plugin specifies fails its plugin, unless marked ``optionalhook``."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from torchon.cli.plugins_cmd import format_plugins
from torchon.hookspecs import hookimpl, hookspec
from torchon.plugins import PluginManager, set_manager


def make_dist(site: Path, dist: str, entry: str, module: str, source: str) -> None:
    """An installed distribution with one entry point in group ``torchon`` (as tests/test_plugins.py makes)."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[torchon]\n{entry} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))


@hookspec
def torchon_register_gizmos(gizmos: Any) -> None:
    """Register gizmos by name."""


@hookspec
def torchon_gizmo_used(gizmo: str) -> None:
    """A gizmo was used."""


SPECS = ModuleType("gizmo_specs")  # a plugin's hookspec module
SPECS.torchon_register_gizmos = torchon_register_gizmos  # type: ignore[attr-defined]
SPECS.torchon_gizmo_used = torchon_gizmo_used  # type: ignore[attr-defined]


class Adder:
    """The plugin that owns the gizmo hooks, as torchon-search owns the executor and trial hooks."""

    @hookimpl
    def torchon_add_hookspecs(self, manager: PluginManager) -> None:
        manager.add_hookspecs(SPECS)


class User:
    """A plugin implementing the added hooks (registers a gizmo, hears of gizmos used)."""

    def __init__(self, gizmo: str = "widget") -> None:
        self.gizmo = gizmo
        self.used: list[str] = []

    @hookimpl
    def torchon_register_gizmos(self, gizmos: Any) -> None:
        gizmos.add(self.gizmo, "json:dumps", help="a gizmo")

    @hookimpl
    def torchon_gizmo_used(self, gizmo: str) -> None:
        self.used.append(gizmo)


class CommandUser(User):
    @hookimpl
    def torchon_register_commands(self, commands: Any) -> None:
        commands.add("use-gizmo", "json:dumps")


@pytest.mark.parametrize("adder_first", [True, False])
def test_a_plugin_adds_a_registration_kind_that_other_plugins_fill(adder_first: bool) -> None:
    manager = PluginManager.from_options(autoload=False)
    user = CommandUser()
    for name, plugin in [("adder", Adder()), ("user", user)][:: 1 if adder_first else -1]:
        manager.register(plugin, name)
    manager.check_pending()
    assert not manager.failed(), [p.error for p in manager.failed()]
    assert manager.table("gizmos").names() == ["widget"] and "gizmos" in manager.tables
    assert manager.table("gizmos").get("widget").plugin == "user"
    assert manager.plugins["user"].registered == {"commands": ["use-gizmo"], "gizmos": ["widget"]}
    manager.notify("torchon_gizmo_used", gizmo="widget")
    assert user.used == ["widget"]
    set_manager(manager)
    listing, status = format_plugins()
    user_line = next(line for line in listing.splitlines() if line.startswith("user "))
    assert status == 0 and user_line.endswith(
        "gizmos: widget; commands: use-gizmo; hooks: gizmo_used"
    )  # commands, then hooks


def test_a_later_plugin_still_registers_and_names_are_checked_and_clash_as_the_kernels_are() -> None:
    manager = PluginManager.from_options(autoload=False)
    manager.register(Adder(), "adder")
    manager.register(User(), "one")
    manager.register(User(), "two")  # the same gizmo: a clash naming both
    bad = manager.register(User("not-a-name"), "bad")
    assert "registered an invalid gizmo name 'not-a-name'" in (bad.error or "")
    assert [c.name for c in manager.conflicts()] == ["widget"]
    assert "gizmo 'widget' is registered by both plugin 'one'" in manager.conflict_message(
        manager.conflicts()[0]
    )
    assert manager.table("nothing").names() == []  # a kind no loaded plugin adds is empty


def test_an_implementation_that_does_not_fit_the_spec_added_later_fails_only_its_plugin() -> None:
    class Misfit:
        @hookimpl
        def torchon_register_gizmos(self, registry: Any) -> None:  # the spec's parameter is `gizmos`
            raise AssertionError("never called")

    manager = PluginManager.from_options(autoload=False)
    manager.register(Misfit(), "misfit")
    user = manager.register(User(), "user")
    manager.register(Adder(), "adder")
    error = manager.plugins["misfit"].error or ""
    assert error.startswith('Plugin "misfit" is invalid:') and "Argument(s) {'registry'}" in error
    assert user.loaded and manager.table("gizmos").names() == ["widget"]


def test_a_hook_no_plugin_adds_fails_its_plugin_unless_optional() -> None:
    class Optional:
        @hookimpl(optionalhook=True)
        def torchon_register_gizmos(self, gizmos: Any) -> None:
            raise AssertionError("never called: nobody adds the hook")

    manager = PluginManager.from_options(autoload=False)
    manager.register(User(), "user")
    optional = manager.register(Optional(), "optional")
    manager.check_pending()
    error = manager.plugins["user"].error or ""
    assert error.startswith('Plugin "user" is invalid: unknown hook ') and "in plugin <" in error
    assert "'torchon_gizmo_used'" in error and manager.plugins["user"].registered == {}
    assert optional.loaded and "gizmos" not in manager.tables


def test_a_first_party_hook_without_its_plugin_says_which_to_install() -> None:
    class Tracker:
        @hookimpl
        def torchon_trial_finished(self, trial: Any) -> None:
            pass

    manager = PluginManager.from_options(autoload=False)
    info = manager.register(Tracker(), "tracker")
    manager.check_pending()
    assert "unknown hook 'torchon_trial_finished'" in (info.error or "")
    assert (info.error or "").endswith("; torchon-search adds this hook: pip install torchon-search")


def test_entry_points_implementing_hooks_an_entry_point_loaded_after_adds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    specs = """
        from torchon.api import hookimpl, hookspec

        @hookspec
        def torchon_register_gizmos(gizmos):
            "Register gizmos."

        @hookimpl
        def torchon_add_hookspecs(manager):
            import sys
            manager.add_hookspecs(sys.modules[__name__])
    """
    uses = """
        from torchon.api import hookimpl

        @hookimpl
        def torchon_register_gizmos(gizmos):
            gizmos.add("early", "json:dumps")
    """
    make_dist(site, "aaa-uses", "aaa", "aaa_uses_mod", uses)  # found first: no spec yet
    make_dist(site, "zzz-specs", "zzz", "zzz_specs_mod", specs)
    monkeypatch.syspath_prepend(str(site))
    for module in ("aaa_uses_mod", "zzz_specs_mod"):
        sys.modules.pop(module, None)
    manager = PluginManager.from_options(["aaa", "zzz"], environ={})
    assert list(manager.plugins)[-2:] == ["aaa", "zzz"]
    assert not manager.failed(), [p.error for p in manager.failed()]
    assert manager.plugins["aaa"].registered == {"gizmos": ["early"]}
    alone = PluginManager.from_options(["aaa"], environ={})  # without the plugin that adds the hook
    assert "unknown hook 'torchon_register_gizmos'" in (alone.plugins["aaa"].error or "")
