"""Plugin discovery through real entry-point metadata, the -p / deny / autoload controls, failures and clashes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from torchon.plugins import BUILTIN_PLUGINS, PluginConflictError, PluginManager, PluginNotFoundError
from torchon.registry import RegistrationError, Table, TagRegistry


def make_dist(
    site: Path, dist: str, version: str, entry: str, module: str, source: str, attr: str | None = None
) -> None:
    """A distribution as pip would leave it: dist-info metadata with an entry point, and its module."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    value = f"{module}:{attr}" if attr else module
    (info / "entry_points.txt").write_text(f"[console_scripts]\nx = y:z\n\n[torchon]\n{entry} = {value}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))


GOOD = """
    from torchon import hookimpl

    class Gadget:
        def __init__(self, n: int = 1):
            self.n = n

    @hookimpl
    def torchon_register_tags(tags):
        tags.add("Gadget", "goodplug_mod:Gadget", help="a gadget")
        tags.add_namespace("good.ns", "json")

    @hookimpl
    def torchon_register_commands(commands):
        commands.add("gadget", "goodplug_mod:Gadget")

    @hookimpl
    def torchon_run_started(run):
        pass
"""


CLASH = """
    from torchon import hookimpl

    @hookimpl
    def torchon_register_tags(tags):
        tags.add("Gadget", "clashplug_mod:Other")
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "goodplug", "1.0", "good", "goodplug_mod", GOOD)
    make_dist(site, "badplug", "2.0", "bad", "badplug_mod", "raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(site))
    for mod in ("goodplug_mod", "badplug_mod", "clashplug_mod", "wrongplug_mod"):
        sys.modules.pop(mod, None)
    return site


def test_builtins_register_through_the_same_hooks() -> None:
    manager = PluginManager.from_options(autoload=False)
    assert [p.name for p in manager.plugins.values()] == [
        f"torchon.{m.rsplit('.', 1)[1]}" for m in BUILTIN_PLUGINS
    ]
    assert all(p.builtin and p.distribution == "torchon" for p in manager.plugins.values())
    assert {"plugins", "run"} <= set(manager.commands.names())
    assert manager.savers.names() == ["json"]  # npy and joblib come with torchon-numpy
    assert manager.resolvers.names() == ["local"]  # git and pypi come with torchon-extensions
    assert manager.storage.names() == ["file"]
    assert manager.tags.names() == ["artifact"]  # the kernel's one tag: bundles carry what it names


def test_entry_points_are_discovered_with_distribution_and_version(site: Path) -> None:
    manager = PluginManager.from_options(autoload=True)
    good = manager.plugins["good"]
    assert (good.distribution, good.version, good.error) == ("goodplug", "1.0", None)
    assert good.registered == {"tags": ["Gadget"], "namespaces": ["good.ns"], "commands": ["gadget"]}
    assert manager.tags.get("Gadget").target == "goodplug_mod:Gadget"
    assert good.seconds > 0


def test_a_failing_plugin_is_recorded_with_its_reason_and_the_rest_load(site: Path) -> None:
    manager = PluginManager.from_options(autoload=True)
    bad = manager.plugins["bad"]
    assert bad.error == 'Error importing plugin "bad": ImportError: needs libfoo'
    assert [p.name for p in manager.failed()] == ["bad"]
    assert manager.plugins["good"].loaded


def test_autoload_off_by_environment(site: Path) -> None:
    manager = PluginManager.from_options(environ={"TORCHON_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert "good" not in manager.plugins and "bad" not in manager.plugins


def test_dash_p_loads_just_that_plugin(site: Path) -> None:
    for name in ("good", "goodplug"):  # entry-point name or distribution name
        manager = PluginManager.from_options([name], environ={})
        assert "good" in manager.plugins and "bad" not in manager.plugins


def test_dash_p_no_and_the_deny_list_leave_plugins_out(site: Path) -> None:
    manager = PluginManager.from_options(["no:bad"], environ={})
    assert "good" in manager.plugins and "bad" not in manager.plugins
    manager = PluginManager.from_options(environ={"TORCHON_DENY_PLUGINS": "bad, goodplug"})
    assert "good" not in manager.plugins and "bad" not in manager.plugins


def test_dash_p_unknown_plugin_is_an_error_naming_the_installed_ones(site: Path) -> None:
    with pytest.raises(
        PluginNotFoundError, match=r"plugin 'nope' is not installed \(installed plugins: .*good"
    ):
        PluginManager.from_options(["nope"], environ={})


def test_two_plugins_registering_one_tag_is_an_error_naming_both_distributions(site: Path) -> None:
    make_dist(site, "clashplug", "3.1", "clash", "clashplug_mod", CLASH)
    manager = PluginManager.from_options(environ={})
    with pytest.raises(PluginConflictError) as info:
        manager.check_conflicts()
    message = str(info.value)
    assert "tag !Gadget is registered by both" in message
    assert "goodplug 1.0" in message and "clashplug 3.1" in message


def test_a_plugin_with_an_unknown_hook_is_refused(site: Path) -> None:
    make_dist(
        site,
        "wrongplug",
        "0.1",
        "wrong",
        "wrongplug_mod",
        """
        from torchon import hookimpl

        @hookimpl
        def torchon_register_tagz(tags):
            pass
        """,
    )
    manager = PluginManager.from_options(environ={})
    assert "unknown hook 'torchon_register_tagz'" in manager.plugins["wrong"].error
    assert manager.plugins["good"].loaded


def test_a_malformed_registration_fails_only_that_plugin() -> None:
    class Bad:
        from torchon.hookspecs import hookimpl

        @staticmethod
        @hookimpl
        def torchon_register_tags(tags):  # type: ignore[no-untyped-def]
            tags.add("Fine", "pkg.mod:Fine")
            tags.add("Broken", "not a target")

    manager = PluginManager.from_options(autoload=False)
    info = manager.register(Bad(), "bad-registrar")
    assert "registered tag 'Broken' with target 'not a target'" in (info.error or "")
    assert "Fine" not in manager.tags, "a plugin that failed part-way must leave nothing registered"
    assert info.registered == {}


def test_registry_validates_names_and_safety() -> None:
    tags = TagRegistry(Table("tags"), Table("namespaces"))
    tags.plugin = "p"
    with pytest.raises(RegistrationError, match="invalid tag name"):
        tags.add("Not-A-Name", "m:A")
    with pytest.raises(RegistrationError, match="invalid namespace"):
        tags.add_namespace("torch..nn", "torch.nn")
    from torchon.registry import SaverRegistry

    savers = SaverRegistry(Table("savers"))
    savers.plugin = "p"
    with pytest.raises(RegistrationError, match="use 'data' or 'code'"):
        savers.add("pickle", "m:PickleSaver", safety="trusted")  # type: ignore[arg-type]


def _cli(site: Path, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("TORCHON_DISABLE_PLUGIN_AUTOLOAD", None)
    env["PYTHONPATH"] = str(site)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "torchon", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_torchon_plugins_lists_plugins_tags_timings_and_failures(site: Path) -> None:
    proc = _cli(site, "plugins", "--timings")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # a plugin failed
    lines = proc.stdout.splitlines()
    good = next(line for line in lines if line.startswith("good "))
    assert "goodplug" in good and "1.0" in good and "tags: !Gadget" in good and "ms" in good
    assert good.endswith("commands: gadget; hooks: run_started")  # its other hooks; registrations are above
    assert any(line.startswith("FAILED bad (badplug 2.0)") and "needs libfoo" in line for line in lines)
    assert any(line.startswith("torchon.commands") and "(builtin)" in line for line in lines)


def test_torchon_plugins_exits_zero_when_all_load(site: Path) -> None:
    proc = _cli(site, "-p", "no:bad", "plugins")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAILED" not in proc.stdout and "good" in proc.stdout


def test_fast_entry_point_scan_agrees_with_importlib_metadata(site: Path) -> None:
    from importlib.metadata import entry_points as stdlib_entry_points

    from torchon.entrypoints import entry_points

    ours = {(ep.name, ep.value, ep.distribution, ep.version) for ep in entry_points("torchon")}
    theirs = {
        (ep.name, ep.value, ep.dist.metadata["Name"], ep.dist.version)
        for ep in stdlib_entry_points(group="torchon")
    }
    assert ours == theirs
    assert ("good", "goodplug_mod", "goodplug", "1.0") in ours


def test_entry_point_values_may_name_an_attribute(site: Path) -> None:
    make_dist(
        site,
        "attrplug",
        "0.2",
        "attr",
        "attrplug_mod",
        """
        from torchon import hookimpl

        class _Plugin:
            @hookimpl
            def torchon_register_tags(self, tags):
                tags.add("Attr", "attrplug_mod:_Plugin")

        PLUGIN = _Plugin()
        """,
        attr="PLUGIN",
    )
    manager = PluginManager.from_options(["attr"], environ={})
    assert manager.plugins["attr"].loaded, manager.plugins["attr"].error
    assert "Attr" in manager.tags


def test_dash_p_module_that_fails_to_import_is_recorded_not_raised(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "crashing_plugin.py").write_text("import no_such_dependency_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = PluginManager.from_options(["crashing_plugin"], autoload=False)
    error = manager.plugins["crashing_plugin"].error or ""
    assert "No module named 'no_such_dependency_here'" in error


def test_a_tag_clash_stops_a_run_with_a_config_error(site: Path, tmp_path: Path, capsys) -> None:
    make_dist(site, "clashplug", "3.1", "clash", "clashplug_mod", CLASH)
    from torchon.plugins import set_manager
    from torchon.runner import run_config

    set_manager(PluginManager.from_options(environ={}))
    (tmp_path / "exp.yaml").write_text("!Gadget {}\n")
    assert run_config(tmp_path / "exp.yaml", output=str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "installed plugins clash: tag !Gadget is registered by both" in err and "Traceback" not in err
