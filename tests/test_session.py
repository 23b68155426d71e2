"""The session: capture in one process, restore in another (a real child process); setup and teardown in order
with one error policy; the run folder's files written atomically; one error hierarchy."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from torchon import errors, session
from torchon.atomic import write_atomic, write_json
from torchon.component import Context
from torchon.env import get_env, set_env
from torchon.plugins import get_manager

TESTS = Path(__file__).parent


def test_a_child_process_restores_plugins_environment_path_and_distributions(
    corpus_manager: Any, tmp_path: Path
) -> None:
    set_env(get_env().replace(resources={"data": "/data"}, debug=True))
    sys.path.insert(0, str(tmp_path / "local_ext"))
    state = session.capture(with_distributions=True)
    code = textwrap.dedent(
        """
        import json, sys
        from torchon import session
        from torchon.distributions import module_distributions
        from torchon.env import get_env
        from torchon.plugins import get_manager
        session.restore(json.loads(sys.stdin.read()), output_dir="/out")
        manager = get_manager()
        print(json.dumps({
            "plugins": sorted(manager.plugins),
            "corpus_tags": sorted(e.name for e in manager.tags.by_plugin("corpus_plugin")),
            "env": get_env().to_dict(),
            "path_first": sys.path[0],
            "torchon_dists": module_distributions().get("torchon"),
        }))
        """
    )
    env = {"TORCHON_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(state),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    child = json.loads(proc.stdout)
    assert "corpus_plugin" in child["plugins"] and "torchon.savers" in child["plugins"]
    assert child["corpus_tags"] == sorted(e.name for e in get_manager().tags.by_plugin("corpus_plugin"))
    assert child["env"]["resources"] == {"data": "/data"} and child["env"]["debug"] is True
    assert child["env"]["output_dir"] == "/out"
    assert child["path_first"] == str(tmp_path / "local_ext")
    assert child["torchon_dists"] == state["distributions"]["torchon"]


def test_a_newer_state_is_refused() -> None:
    with pytest.raises(ValueError, match="newer than this torchon reads"):
        session.restore({"version": session.STATE_VERSION + 1})


class Part:
    def __init__(
        self, name: str, log: list[str], fail_setup: bool = False, fail_teardown: bool = False
    ) -> None:
        self.name, self.log, self.fail_setup, self.fail_teardown = name, log, fail_setup, fail_teardown

    def setup(self, context: Context) -> None:
        self.log.append(f"setup {self.name}")
        if self.fail_setup:
            raise RuntimeError(f"setup of {self.name}")

    def teardown(self) -> None:
        self.log.append(f"teardown {self.name}")
        if self.fail_teardown:
            raise RuntimeError(f"teardown of {self.name}")


def context(tmp_path: Path) -> Context:
    return Context(env=get_env(), output_dir=tmp_path)


def test_running_sets_up_in_order_and_tears_down_in_reverse(tmp_path: Path) -> None:
    log: list[str] = []
    with session.running([Part("a", log), Part("b", log)], context(tmp_path)):
        log.append("work")
    assert log == ["setup a", "setup b", "work", "teardown b", "teardown a"]


def test_a_failed_setup_tears_down_only_what_was_set_up(tmp_path: Path) -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="setup of b"):
        with session.running(
            [Part("a", log), Part("b", log, fail_setup=True), Part("c", log)], context(tmp_path)
        ):
            log.append("work")
    assert log == ["setup a", "setup b", "teardown a"]


def test_a_failed_teardown_is_logged_and_never_hides_the_work_s_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[str] = []
    parts = [Part("a", log), Part("b", log, fail_teardown=True)]
    with caplog.at_level(logging.ERROR, logger="torchon.run"):
        with pytest.raises(KeyError, match="the work"):
            with session.running(parts, context(tmp_path)):
                raise KeyError("the work")
    assert log == ["setup a", "setup b", "teardown b", "teardown a"]
    assert "teardown of Part failed" in caplog.text and "RuntimeError: teardown of b" in caplog.text


def test_atomic_writes_leave_no_temporary_file_and_replace_whole(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_json(path, {"status": "running"})
    write_atomic(path, '{"status": "done"}\n', fsync=True)
    assert json.loads(path.read_text()) == {"status": "done"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_an_interrupted_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_json(path, {"status": "running"})

    with pytest.raises(TypeError):
        write_atomic(path, object())  # type: ignore[arg-type]
    assert json.loads(path.read_text()) == {"status": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_every_error_torchon_raises_on_purpose_is_a_torchon_error() -> None:
    from torchon.bundle import BundleError, BundleIntegrityError, BundleSafetyError, SaveError
    from torchon.config.errors import ConfigError
    from torchon.extensions import ExtensionError
    from torchon.importing import TargetImportError
    from torchon.lock import LockError
    from torchon.plugins import PluginConflictError, PluginNotFoundError
    from torchon.registry import RegistrationError
    from torchon.run_folder import OutputError
    from torchon.storage import StorageError

    for cls in (
        BundleIntegrityError,
        BundleSafetyError,
        SaveError,
        ConfigError,
        ExtensionError,
        TargetImportError,
        LockError,
        PluginNotFoundError,
        PluginConflictError,
        OutputError,
        StorageError,
        errors.ArgumentError,
    ):
        assert issubclass(cls, errors.UserError), cls
    assert issubclass(BundleIntegrityError, BundleError)
    assert issubclass(RegistrationError, errors.TorchonError) and issubclass(RegistrationError, ValueError)
    assert issubclass(TargetImportError, ImportError) and issubclass(errors.ArgumentError, ValueError)
    assert ConfigError("x", fix="y").exit_code == 2 and OutputError("x").exit_code == 2


def test_the_command_line_prints_a_user_error_once_without_a_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "torchon", "-p", "nothing-here", "plugins"],
        capture_output=True,
        text=True,
        env={"TORCHON_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("torchon: error: ") and "Traceback" not in proc.stderr
    assert proc.stderr.count("torchon: error:") == 1
