"""What a user does at the command line: help, plugins, running configs with local extensions, exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("torch", "ray", "boto3", "optuna", "git", "cookiecutter", "mlflow", "plotly", "sklearn")

EXTENSION = """
import json
from pathlib import Path

import torchon
from torchon.component import Component, Runnable


class Greeting(Component):
    def __init__(self, text: str, times: int = 1) -> None:
        self.text = text
        self.times = times


class MyThing(Runnable):
    def __init__(self, greeting: Greeting, fail: str = "") -> None:
        self.greeting = greeting
        self.fail = fail
        self.resumed = None

    def setup(self, context) -> None:
        self.resumed = context.resume

    def run(self) -> None:
        if self.fail == "exception":
            raise ZeroDivisionError("boom")
        if self.fail == "runfailed":
            raise torchon.RunFailed("the loss went to NaN at step 7")
        out = Path(torchon.get_env().output_dir)
        for i in range(self.greeting.times):
            print(self.greeting.text)
            torchon.report(step=i, count=i)
        (out / "result.json").write_text(json.dumps({"said": self.greeting.text, "resumed": self.resumed}))
"""


def torchon(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``torchon`` command with plugins autoloaded, as a user would."""
    child_env = dict(os.environ)
    child_env.pop("TORCHON_DISABLE_PLUGIN_AUTOLOAD", None)
    child_env.update(env or {})
    exe = Path(sys.executable).with_name("torchon")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "torchon"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, env=child_env, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "ext" / "my_ext").mkdir(parents=True)
    (tmp_path / "ext" / "my_ext" / "__init__.py").write_text(textwrap.dedent(EXTENSION))
    (tmp_path / "exp.yaml").write_text(
        "my_ext: ./ext\n---\n!my_ext.MyThing\ngreeting: !my_ext.Greeting\n  text: hello\n  times: 3\n"
    )
    return tmp_path


def test_help_describes_commands_and_controls() -> None:
    proc = torchon("--help")
    assert proc.returncode == 0
    for text in ("run", "plugins", "TORCHON_DISABLE_PLUGIN_AUTOLOAD", "-p NAME", "--debug"):
        assert text in proc.stdout
    run_help = torchon("run", "--help")
    assert run_help.returncode == 0
    for text in ("CONFIG", "--output", "--resume", "--force", "--plugin", "--debug", "Exit status"):
        assert text in run_help.stdout


def test_no_arguments_prints_help_and_unknown_commands_are_usage_errors() -> None:
    assert "commands" in torchon().stdout
    proc = torchon("frobnicate")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["plugins", "--timings"], ["run", "--help"]])
def test_startup_commands_import_nothing_heavy(args: list[str]) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from torchon.cli.main import main
        try:
            main({args!r})
        except SystemExit:
            pass
        print("HEAVY=" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
        """
    )
    env = dict(os.environ)
    env.pop("TORCHON_DISABLE_PLUGIN_AUTOLOAD", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY="


def test_plugins_lists_the_installed_script_plugin() -> None:
    proc = torchon("plugins")
    script = [line for line in proc.stdout.splitlines() if line.startswith("script ")]
    assert script and "torchon-script" in script[0] and "!Script" in script[0], proc.stdout


def test_a_config_using_a_local_path_extension_runs(project: Path) -> None:
    proc = torchon("run", "exp.yaml", "-o", "out", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("hello") == 3
    out = project / "out"
    assert json.loads((out / "result.json").read_text()) == {"said": "hello", "resumed": False}
    assert (out / "config.yaml").read_text() == (project / "exp.yaml").read_text()
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "succeeded" and record["exit_code"] == 0
    assert record["extensions"]["my_ext"]["kind"] == "local"
    assert record["plugins"]["script"]["distribution"] == "torchon-script"
    steps = [json.loads(line)["count"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2]
    assert "run finished" in (out / "logs" / "run.log").read_text()


def test_default_output_folder_and_resume_of_the_latest(project: Path) -> None:
    assert torchon("run", "exp.yaml", cwd=project).returncode == 0
    runs = sorted((project / "runs" / "exp").iterdir())
    assert len(runs) == 1 and (runs[0] / "result.json").exists()
    proc = torchon("run", "exp.yaml", "--resume", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert sorted((project / "runs" / "exp").iterdir()) == runs
    assert json.loads((runs[0] / "result.json").read_text())["resumed"] is True


def test_an_existing_output_folder_needs_resume_or_force(project: Path) -> None:
    assert torchon("run", "exp.yaml", "-o", "out", cwd=project).returncode == 0
    (project / "out" / "keep.txt").write_text("precious")
    proc = torchon("run", "exp.yaml", "-o", "out", cwd=project)
    assert proc.returncode == 2 and "pass --resume to continue it or --force to replace it" in proc.stderr
    assert (project / "out" / "keep.txt").read_text() == "precious"
    assert torchon("run", "exp.yaml", "-o", "out", "--force", cwd=project).returncode == 0
    assert not (project / "out" / "keep.txt").exists()
    both = torchon("run", "exp.yaml", "-o", "out", "--force", "--resume", cwd=project)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_a_failing_run_exits_1_with_the_reason_and_keeps_the_traceback_in_the_log(project: Path) -> None:
    (project / "fail.yaml").write_text(
        "my_ext: ./ext\n---\n!my_ext.MyThing\ngreeting: !my_ext.Greeting {text: hi}\nfail: exception\n"
    )
    proc = torchon("run", "fail.yaml", "-o", "out", cwd=project)
    assert proc.returncode == 1
    assert "run failed: ZeroDivisionError: boom" in proc.stderr and "Traceback" not in proc.stderr
    record = json.loads((project / "out" / "run.json").read_text())
    assert record["status"] == "failed" and record["error"] == "ZeroDivisionError: boom"
    assert "Traceback" in (project / "out" / "logs" / "run.log").read_text()
    debug = torchon("run", "fail.yaml", "-o", "out2", "--debug", cwd=project)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_run_failed_is_reported_without_a_traceback(project: Path) -> None:
    (project / "nan.yaml").write_text(
        "my_ext: ./ext\n---\n!my_ext.MyThing\ngreeting: !my_ext.Greeting {text: hi}\nfail: runfailed\n"
    )
    proc = torchon("run", "nan.yaml", "-o", "out", cwd=project)
    assert proc.returncode == 1
    assert "run failed: the loss went to NaN at step 7" in proc.stderr and "Traceback" not in proc.stderr


def test_a_bad_config_exits_2_naming_file_line_and_column(project: Path) -> None:
    (project / "typo.yaml").write_text(
        "my_ext: ./ext\n---\n!my_ext.MyThing\ngreeting: !my_ext.Greting {text: hi}\n"
    )
    proc = torchon("run", "typo.yaml", cwd=project)
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "typo.yaml:4:11: error: extension module 'my_ext' has no class 'Greting' (did you mean my_ext.Greeting?)"
    )
    assert not (project / "runs").exists()


def test_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    proc = torchon("run", "nope.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "config file nope.yaml does not exist" in proc.stderr


def test_dash_p_loads_only_the_named_plugin(project: Path) -> None:
    (project / "s.yaml").write_text("!Script {path: s.py}\n")
    (project / "s.py").write_text("print('script ran')\n")
    assert torchon("run", "s.yaml", "-o", "a", "-p", "script", cwd=project).returncode == 0
    proc = torchon("run", "s.yaml", "-o", "b", "-p", "no:script", cwd=project)
    assert proc.returncode == 2 and "!Script comes from the torchon-script plugin" in proc.stderr
    unknown = torchon("-p", "nosuchplugin", "plugins")
    assert unknown.returncode == 2 and "plugin 'nosuchplugin' is not installed" in unknown.stderr
