"""Tests of the ``!Script`` runnable: real child processes, through the CLI and in-process.

Every test writes small scripts into ``tmp_path`` and runs them for real; nothing about subprocesses is mocked.
CLI runs get an environment where plugin autoload is on (the kernel's tests turn it off), so ``!Script`` is found
the way a user's ``torchon run`` finds it.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from torchon import metrics
from torchon.component import Context
from torchon.env import get_env, set_env
from torchon.errors import RunFailed
from torchon_script.script import Script, command_line

REPO = Path(__file__).resolve().parents[3]
HELLO = REPO / "examples" / "script" / "hello.yaml"


# -- helpers -----------------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TORCHON_DISABLE_PLUGIN_AUTOLOAD"}
    env.pop("TORCHON_METRICS_FD", None)
    env.pop("TORCHON_OUTPUT_DIR", None)
    env.update(extra)
    return env


def torchon(*args: str | Path, cwd: Path | None = None, timeout: float = 60, **env: str):
    return subprocess.run(
        [sys.executable, "-m", "torchon", *map(str, args)],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_config(cfg: Path, out: Path, cwd: Path | None = None, **env: str):
    return torchon("run", cfg, "-o", out, cwd=cwd, **env)


def read_metrics(out: Path) -> list[dict[str, Any]]:
    path = out / "metrics.jsonl"
    return (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    )


def run_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "run.json").read_text(encoding="utf-8"))


def bounded(fn: Callable[[], Any], timeout: float = 15.0) -> Any:
    """``fn()``, failing the test (not hanging it) when it does not return within ``timeout`` seconds."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} did not return within {timeout}s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies left for a non-reaping init count as gone)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat[stat.rindex(")") + 2] != "Z"


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def context(tmp_path: Path) -> Context:
    return Context(env=get_env(), output_dir=tmp_path / "out")


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[Path]:
    """Record this process's metrics (as ``torchon run`` does) into a file; yields its path."""
    path = tmp_path / "out" / "metrics.jsonl"
    metrics.start_recording(path)
    try:
        yield path
    finally:
        metrics.stop_recording()


@pytest.fixture
def scripts() -> Iterator[list[Script]]:
    """Scripts a test started; torn down afterwards so a failing test leaves no child behind."""
    started: list[Script] = []
    yield started
    for script in started:
        script.teardown(grace=1)


REPORT3 = """
    import sys
    import torchon
    for i in range(1, 4):
        print(f"out line {i}")
        print(f"err line {i}", file=sys.stderr)
        torchon.report(step=i, loss=1.0 / i, acc=i * 10)
"""


# -- command line ------------------------------------------------------------------------------------------


def test_command_line_translates_args_and_kwargs() -> None:
    cmd = command_line(
        [1, "two", 3.5],
        {
            "lr": 0.1,
            "verbose": True,
            "quiet": False,
            "opt": None,
            "layers": [64, 32],
            "dims": (1, 2),
            "name": "x",
        },
    )
    expected = "1 two 3.5 --lr 0.1 --verbose --layers 64 32 --dims 1 2 --name x".split()
    assert cmd == expected
    assert command_line() == []
    assert command_line(kwargs={"zero": 0}) == ["--zero", "0"]  # 0 is a value, not false


def test_path_and_module_are_exclusive() -> None:
    with pytest.raises(ValueError, match="exactly one of path"):
        Script(path="a.py", module="b")
    with pytest.raises(ValueError, match="exactly one of path"):
        Script()


# -- through the CLI ---------------------------------------------------------------------------------------


def test_cli_success_streams_output_and_records_metrics(tmp_path: Path) -> None:
    write(tmp_path / "train.py", REPORT3)
    cfg = write(tmp_path / "exp.yaml", "!Script\npath: train.py\n")
    out = tmp_path / "out"
    result = run_config(cfg, out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    for i in (1, 2, 3):
        assert f"out line {i}\n" in result.stdout
        assert f"err line {i}\n" in result.stderr
        assert f"err line {i}" not in result.stdout
    log = (out / "logs" / "script.log").read_text(encoding="utf-8")
    for i in (1, 2, 3):
        assert f"out line {i}\n" in log and f"err line {i}\n" in log

    records = read_metrics(out)
    assert [r["step"] for r in records] == [1, 2, 3]
    assert [r["loss"] for r in records] == pytest.approx([1.0, 0.5, 1 / 3])
    assert [r["acc"] for r in records] == [10, 20, 30]
    assert all(isinstance(r["time"], float) for r in records)

    record = run_json(out)
    assert record["status"] == "succeeded"
    assert record["exit_code"] == 0
    assert "exit_status" not in record
    assert record["plugins"]["script"]["distribution"] == "torchon-script"


def test_cli_passes_args_kwargs_env_cwd_and_output_dir(tmp_path: Path) -> None:
    write(
        tmp_path / "scripts" / "probe.py",
        """
        import argparse, json, os
        p = argparse.ArgumentParser()
        p.add_argument("first")
        p.add_argument("second", type=int)
        p.add_argument("--lr", type=float)
        p.add_argument("--layers", type=int, nargs="+")
        p.add_argument("--verbose", action="store_true")
        p.add_argument("--quiet", action="store_true")
        p.add_argument("--opt", default="unset")
        args = p.parse_args()
        out = os.environ["TORCHON_OUTPUT_DIR"]
        with open(os.path.join(out, "probe.json"), "w") as f:
            json.dump({"args": vars(args), "cwd": os.getcwd(), "my_var": os.environ.get("MY_VAR"),
                       "number": os.environ.get("NUMBER")}, f)
        """,
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    cfg = write(
        tmp_path / "exp.yaml",
        f"""
        !Script
        path: scripts/probe.py
        args: [hello, 7]
        kwargs:
          lr: 0.25
          layers: [64, 32]
          verbose: true
          quiet: false
          opt: null
        env:
          MY_VAR: from-config
          NUMBER: 42
        cwd: {workdir}
        """,
    )
    out = tmp_path / "out"
    result = run_config(cfg, out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    probe = json.loads((out / "probe.json").read_text())
    assert probe["args"] == {
        "first": "hello",
        "second": 7,
        "lr": 0.25,
        "layers": [64, 32],
        "verbose": True,
        "quiet": False,
        "opt": "unset",
    }
    assert Path(probe["cwd"]).resolve() == workdir.resolve()
    assert probe["my_var"] == "from-config"
    assert probe["number"] == "42"


def test_cli_finds_the_script_next_to_the_config(tmp_path: Path) -> None:
    write(
        tmp_path / "project" / "train.py",
        "import torchon\nprint('next to config')\ntorchon.report(step=1, x=1)\n",
    )
    cfg = write(tmp_path / "project" / "exp.yaml", "!Script\npath: train.py\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    result = run_config(cfg, out, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert "next to config" in result.stdout
    assert [r["x"] for r in read_metrics(out)] == [1]


def test_cli_prefers_the_working_folder_over_the_config_folder(tmp_path: Path) -> None:
    write(tmp_path / "project" / "train.py", "print('config folder copy')\n")
    cfg = write(tmp_path / "project" / "exp.yaml", "!Script\npath: train.py\n")
    write(tmp_path / "here" / "train.py", "print('working folder copy')\n")
    result = run_config(cfg, tmp_path / "out", cwd=tmp_path / "here")
    assert result.returncode == 0, result.stderr
    assert "working folder copy" in result.stdout
    assert "config folder copy" not in result.stdout


def test_cli_module_mode(tmp_path: Path) -> None:
    write(tmp_path / "mypkg" / "__init__.py", "")
    write(
        tmp_path / "mypkg" / "train.py",
        """
        import sys
        import torchon
        print("module", __name__, sys.argv[1:])
        torchon.report(step=1, loss=0.5)
        """,
    )
    cfg = write(tmp_path / "exp.yaml", "!Script\nmodule: mypkg.train\nkwargs: {epochs: 2}\n")
    out = tmp_path / "out"
    result = run_config(cfg, out, cwd=tmp_path)  # python -m finds the package from the working folder
    assert result.returncode == 0, result.stderr
    assert "module __main__ ['--epochs', '2']" in result.stdout
    assert read_metrics(out)[0]["loss"] == 0.5
    assert run_json(out)["status"] == "succeeded"


def test_cli_nonzero_exit_fails_the_run(tmp_path: Path) -> None:
    write(tmp_path / "fail.py", "import sys\nprint('before exit')\nsys.exit(3)\n")
    cfg = write(tmp_path / "exp.yaml", "!Script\npath: fail.py\n")
    out = tmp_path / "out"
    result = run_config(cfg, out, cwd=tmp_path)
    assert result.returncode == 1
    assert "before exit" in result.stdout
    assert "exited with status 3" in result.stderr
    assert "Traceback" not in result.stderr
    record = run_json(out)
    assert record["status"] == "failed"
    assert record["exit_status"] == 3
    assert record["exit_code"] == 1
    assert "status 3" in record["error"]


def test_cli_uncaught_exception_shows_the_scripts_traceback(tmp_path: Path) -> None:
    write(tmp_path / "boom.py", "def f():\n    raise RuntimeError('boom in the script')\nf()\n")
    cfg = write(tmp_path / "exp.yaml", "!Script\npath: boom.py\n")
    out = tmp_path / "out"
    result = run_config(cfg, out, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "boom.py" in result.stderr
    assert "RuntimeError: boom in the script" in result.stderr
    assert "exited with status 1" in result.stderr
    assert "RuntimeError: boom in the script" in (out / "logs" / "script.log").read_text()
    assert run_json(out)["exit_status"] == 1


def test_cli_segfault_names_the_signal(tmp_path: Path) -> None:
    write(tmp_path / "crash.py", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    cfg = write(tmp_path / "exp.yaml", "!Script\npath: crash.py\n")
    out = tmp_path / "out"
    result = run_config(cfg, out, cwd=tmp_path)
    assert result.returncode == 1
    assert "SIGSEGV" in result.stderr
    record = run_json(out)
    assert record["exit_status"] == -signal.SIGSEGV
    assert "SIGSEGV" in record["error"]


def test_cli_missing_script_is_a_clear_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "cfg" / "exp.yaml", "!Script\npath: nope.py\n")
    out = tmp_path / "out"
    result = run_config(cfg, out, cwd=tmp_path)
    assert result.returncode == 1
    assert "script nope.py not found" in result.stderr
    assert "Traceback" not in result.stderr
    record = run_json(out)
    assert record["status"] == "failed"
    assert record["error"].startswith("script nope.py not found")
    assert f"looked in {tmp_path} and in {tmp_path / 'cfg'}" in record["error"]  # both places it looked


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("# both given\n!Script\npath: a.py\nmodule: b\n", 2),
        ("!Script\nargs: [1]\n", 1),
    ],
    ids=["both", "neither"],
)
def test_cli_path_xor_module_is_a_config_error(tmp_path: Path, body: str, line: int) -> None:
    cfg = write(tmp_path / "exp.yaml", body)
    result = run_config(cfg, tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{cfg}:{line}:1: error:"), result.stderr
    assert "exactly one of path" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_streams_carriage_return_progress_live(tmp_path: Path) -> None:
    """A progress bar (``\\r`` updates, no newline) reaches the terminal while the script still runs."""
    go = tmp_path / "go"
    write(
        tmp_path / "progress.py",
        f"""
        import os, sys, time
        sys.stderr.write("progress 50%\\r")
        sys.stderr.flush()
        deadline = time.monotonic() + 20
        while not os.path.exists({str(go)!r}) and time.monotonic() < deadline:
            time.sleep(0.01)
        sys.stderr.write("progress 100%\\n")
        """,
    )
    cfg = write(tmp_path / "exp.yaml", "!Script\npath: progress.py\n")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchon", "run", str(cfg), "-o", str(out)],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        seen = b""
        deadline = time.monotonic() + 15
        while b"progress 50%" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.1)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
        assert b"progress 50%\r" in seen
        assert proc.poll() is None  # shown while the script was still waiting
        go.touch()
        rest = proc.communicate(timeout=20)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (seen + rest).decode()
    assert b"progress 50%\rprogress 100%\n" in (out / "logs" / "script.log").read_bytes()


def test_cli_plugins_lists_script() -> None:
    result = torchon("plugins")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    row = next((r for r in rows if r and r[0] == "script"), None)
    assert row is not None, result.stdout
    assert row[1] == "torchon-script"
    assert "!Script" in row


def test_cli_loads_script_with_p_when_autoload_is_off(tmp_path: Path) -> None:
    write(tmp_path / "train.py", "import torchon\ntorchon.report(step=1, x=2)\n")
    cfg = write(tmp_path / "exp.yaml", "!Script\npath: train.py\n")
    out = tmp_path / "out"
    result = torchon("run", "-p", "script", cfg, "-o", out, cwd=tmp_path, TORCHON_DISABLE_PLUGIN_AUTOLOAD="1")
    assert result.returncode == 0, result.stderr
    assert read_metrics(out)[0]["x"] == 2


def test_shipped_example_runs_and_loss_goes_down(tmp_path: Path) -> None:
    assert HELLO.is_file()
    out = tmp_path / "out"
    result = run_config(HELLO.relative_to(REPO), out, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "epoch   1" in result.stdout
    records = read_metrics(out)
    assert [r["step"] for r in records] == list(range(1, 41))
    losses = [r["loss"] for r in records]
    assert losses[-1] < losses[0] / 10
    assert all(b <= a for a, b in itertools.pairwise(losses)), losses
    assert records[-1]["w"] == pytest.approx(3, abs=0.2)
    assert run_json(out)["status"] == "succeeded"


# -- in-process --------------------------------------------------------------------------------------------


def test_step_is_true_per_report_then_false(
    tmp_path: Path,
    context: Context,
    recording: Path,
    scripts: list[Script],
    capfd: pytest.CaptureFixture[str],
) -> None:
    write(tmp_path / "train.py", REPORT3)
    script = Script(path=str(tmp_path / "train.py"))
    scripts.append(script)
    script.setup(context)
    results = [bounded(script.step) for _ in range(4)]
    assert results == [True, True, True, False]
    assert script.latest_metrics == {"loss": pytest.approx(1 / 3), "acc": 30}
    assert script.returncode == 0
    assert bounded(script.step) is False  # stays False: the script is not started again
    metrics.flush()  # metrics.jsonl is written within a second; the test reads it at once
    assert [(r["step"], r["acc"]) for r in map(json.loads, recording.read_text().splitlines())] == [
        (1, 10),
        (2, 20),
        (3, 30),
    ]
    script.teardown()
    captured = capfd.readouterr()
    assert "out line 3" in captured.out
    assert "err line 3" in captured.err
    assert "out line 3" in (context.output_dir / "logs" / "script.log").read_text()


def test_latest_metrics_after_each_step(tmp_path: Path, context: Context, scripts: list[Script]) -> None:
    write(tmp_path / "t.py", "import torchon\ntorchon.report(step=1, a=1)\ntorchon.report(step=2, b=2.5)\n")
    script = Script(path=str(tmp_path / "t.py"))
    scripts.append(script)
    script.setup(context)
    assert bounded(script.step) is True
    assert script.latest_metrics == {"a": 1}
    assert bounded(script.step) is True
    assert script.latest_metrics == {"a": 1, "b": 2.5}  # the latest value of each metric
    assert bounded(script.step) is False


def test_run_raises_run_failed_with_the_status(
    tmp_path: Path, context: Context, scripts: list[Script]
) -> None:
    write(tmp_path / "t.py", "import sys, torchon\ntorchon.report(step=1, a=1)\nsys.exit(5)\n")
    script = Script(path=str(tmp_path / "t.py"))
    scripts.append(script)
    script.setup(context)
    assert bounded(script.step) is True  # reports before the failure still count
    with pytest.raises(RunFailed, match="exited with status 5") as info:
        bounded(script.step)
    assert info.value.exit_status == 5
    assert script.returncode == 5
    assert bounded(script.step) is False


def test_malformed_metrics_lines_are_skipped(
    tmp_path: Path, context: Context, recording: Path, scripts: list[Script], caplog: pytest.LogCaptureFixture
) -> None:
    write(
        tmp_path / "t.py",
        """
        import os
        f = os.fdopen(int(os.environ["TORCHON_METRICS_FD"]), "w")
        for line in ["not json", "null", "[1, 2]", '{"loss": "abc"}', "{}", '{"step": "x", "loss": 1}', "",
                     '{"step": 7, "loss": 0.25}']:
            f.write(line + "\\n")
        f.buffer.write(b"\\xff\\xfe garbage\\n")
        f.close()
        """,
    )
    script = Script(path=str(tmp_path / "t.py"))
    scripts.append(script)
    script.setup(context)
    with caplog.at_level("WARNING", logger="torchon.script"):
        assert bounded(script.step) is True
        assert bounded(script.step) is False
    assert script.latest_metrics == {"loss": 0.25}
    assert script.returncode == 0
    assert [json.loads(line)["step"] for line in recording.read_text().splitlines()] == [7]
    assert len([r for r in caplog.records if "ignored" in r.getMessage()]) == 7


def test_output_dir_and_log_in_process(tmp_path: Path, context: Context, scripts: list[Script]) -> None:
    write(
        tmp_path / "t.py",
        """
        import os
        out = os.environ["TORCHON_OUTPUT_DIR"]
        open(os.path.join(out, "made-by-script.txt"), "w").write("ok")
        print("done")
        """,
    )
    script = Script(path=str(tmp_path / "t.py"))
    scripts.append(script)
    script.setup(context)
    bounded(script.run)
    assert (context.output_dir / "made-by-script.txt").read_text() == "ok"
    assert (context.output_dir / "logs" / "script.log").read_text() == "done\n"


def test_utf8_split_across_writes(tmp_path: Path, context: Context, scripts: list[Script]) -> None:
    write(
        tmp_path / "t.py",
        """
        import sys, time
        sys.stdout.buffer.write(b"caf\\xc3"); sys.stdout.flush()
        time.sleep(0.1)
        sys.stdout.buffer.write(b"\\xa9 \\xe2\\x9c\\x93\\n"); sys.stdout.flush()
        """,
    )
    script = Script(path=str(tmp_path / "t.py"))
    scripts.append(script)
    script.setup(context)
    bounded(script.run)
    assert (context.output_dir / "logs" / "script.log").read_text(encoding="utf-8") == "café ✓\n"


@pytest.mark.parametrize("how", ["PYTHONPATH", "cwd"])
def test_module_mode_in_process(tmp_path: Path, context: Context, scripts: list[Script], how: str) -> None:
    write(tmp_path / "lib" / "mypkg" / "__init__.py", "")
    write(
        tmp_path / "lib" / "mypkg" / "train.py",
        "import torchon, sys\ntorchon.report(step=1, n=len(sys.argv))\n",
    )
    lib = str(tmp_path / "lib")
    if how == "PYTHONPATH":
        script = Script(module="mypkg.train", args=["a", "b"], env={"PYTHONPATH": lib})
    else:
        script = Script(module="mypkg.train", args=["a", "b"], cwd=lib)
    scripts.append(script)
    script.setup(context)
    assert bounded(script.step) is True
    assert script.latest_metrics == {"n": 3}
    assert bounded(script.step) is False


def test_module_failure_names_the_module(tmp_path: Path, context: Context, scripts: list[Script]) -> None:
    script = Script(module="no_such_module_for_torchon_tests", cwd=str(tmp_path))
    scripts.append(script)
    script.setup(context)
    with pytest.raises(RunFailed, match="-m no_such_module_for_torchon_tests exited with status 1"):
        bounded(script.run)


def test_relative_path_from_the_config_folder_in_process(
    tmp_path: Path, context: Context, scripts: list[Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "cfg" / "t.py", "import torchon\ntorchon.report(step=1, found=1)\n")
    monkeypatch.chdir(tmp_path)
    previous = set_env(config_path=str(tmp_path / "cfg" / "exp.yaml"))
    try:
        script = Script(path="t.py")
        scripts.append(script)
        script.setup(context)
        assert bounded(script.step) is True
        assert script.latest_metrics == {"found": 1}
    finally:
        set_env(previous)


def test_missing_cwd_is_a_clear_error(tmp_path: Path, context: Context) -> None:
    write(tmp_path / "t.py", "print('never')\n")
    script = Script(path=str(tmp_path / "t.py"), cwd=str(tmp_path / "nope"))
    script.setup(context)
    with pytest.raises(RunFailed, match="is not a folder"):
        script.step()
    script.teardown()


def test_teardown_stops_a_long_running_script_and_its_children(
    tmp_path: Path, context: Context, scripts: list[Script]
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    write(
        tmp_path / "long.py",
        f"""
        import subprocess, sys, time
        import torchon
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        torchon.report(step=1, loss=1.0)
        time.sleep(60)
        """,
    )
    script = Script(path=str(tmp_path / "long.py"))
    scripts.append(script)
    script.setup(context)
    assert bounded(script.step) is True
    assert script._proc is not None
    pgid = script._proc.pid
    grandchild = int(pidfile.read_text())
    assert group_alive(pgid) and pid_alive(grandchild)

    started = time.monotonic()
    script.teardown()
    assert time.monotonic() - started < 5
    assert wait_until(lambda: not group_alive(pgid), 5)
    assert wait_until(lambda: not pid_alive(grandchild), 5)
    assert script.returncode == -signal.SIGTERM
    assert bounded(script.step) is False  # a torn-down script is not restarted by step()


def test_teardown_kills_a_script_that_ignores_sigterm(
    tmp_path: Path, context: Context, scripts: list[Script]
) -> None:
    write(
        tmp_path / "stubborn.py",
        """
        import signal, time
        import torchon
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        torchon.report(step=1, x=1)
        time.sleep(60)
        """,
    )
    script = Script(path=str(tmp_path / "stubborn.py"))
    scripts.append(script)
    script.setup(context)
    assert bounded(script.step) is True
    assert script._proc is not None
    pgid = script._proc.pid
    started = time.monotonic()
    script.teardown(grace=0.3)
    assert time.monotonic() - started < 5
    assert script.returncode == -signal.SIGKILL
    assert wait_until(lambda: not group_alive(pgid), 5)


def test_teardown_of_a_finished_or_unstarted_script_is_harmless(
    tmp_path: Path, context: Context, scripts: list[Script]
) -> None:
    write(tmp_path / "t.py", "print('hi')\n")
    script = Script(path=str(tmp_path / "t.py"))
    script.teardown()  # never set up
    script.setup(context)
    script.teardown()  # set up, never started
    bounded(script.run)
    script.teardown()
    script.teardown()
    assert script.returncode == 0


def test_setup_again_runs_the_script_again(tmp_path: Path, context: Context, scripts: list[Script]) -> None:
    counter = tmp_path / "count.txt"
    write(
        tmp_path / "t.py",
        f"import torchon\nopen({str(counter)!r}, 'a').write('x')\ntorchon.report(step=1, x=1)\n",
    )
    script = Script(path=str(tmp_path / "t.py"))
    scripts.append(script)
    for expected in ("x", "xx"):
        script.setup(context)
        assert [bounded(script.step) for _ in range(2)] == [True, False]
        script.teardown()
        assert counter.read_text() == expected
