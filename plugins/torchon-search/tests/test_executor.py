"""The local executor with real worker processes: messages both ways, and every kind of crash reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from torchon_search.executor import Task, TaskEvent, WorkerSpec
from torchon_search.local import LocalExecutor

WORKER = """
import ctypes, os, sys, time

def prepare(args):
    return {"factor": args["factor"]}

def run(prepared, payload, channel):
    kind = payload["kind"]
    channel.send({"hello": payload["n"] * prepared["factor"]})
    if kind == "raise":
        raise ZeroDivisionError("boom")
    if kind == "exit":
        sys.exit(3)
    if kind == "segfault":
        ctypes.string_at(0)
    if kind == "oom":
        os.kill(os.getpid(), 9)
    if kind == "memory":
        blob = bytearray(1024 ** 3)
    if kind == "echo":
        channel.send({"echo": channel.recv()})
    if kind == "sleep":
        time.sleep(60)
    if kind == "lazy":
        import lazy_mod  # noqa: F401
        channel.send({"pid": os.getpid()})
    print("printed by", kind)
"""


@pytest.fixture
def executor(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "worker_mod.py").write_text(textwrap.dedent(WORKER))
    spec = WorkerSpec(
        "worker_mod:prepare", "worker_mod:run", {"factor": 10}, session={"sys_path": [str(tmp_path)]}
    )
    with LocalExecutor(spec, max_concurrent=8, cpus=8) as ex:
        yield ex


def drain(ex: LocalExecutor, count: int, on_message=None) -> dict[str, list[TaskEvent]]:  # type: ignore[no-untyped-def]
    events: dict[str, list[TaskEvent]] = {}
    exits = 0
    for _ in range(400):
        for event in ex.poll(0.1):
            events.setdefault(event.task_id, []).append(event)
            if event.kind == "message" and on_message:
                on_message(event)
            exits += event.kind == "exit"
        if exits == count:
            return events
    raise AssertionError(f"only {exits} of {count} tasks ended: {events}")


def test_every_kind_of_end_is_reported(executor: LocalExecutor, tmp_path: Path) -> None:
    kinds = ["ok", "raise", "exit", "segfault", "oom", "echo"]
    for n, kind in enumerate(kinds):
        executor.submit(Task(kind, {"n": n, "kind": kind}, log=str(tmp_path / f"{kind}.log")))

    def answer(event: TaskEvent) -> None:
        if event.task_id == "echo" and "hello" in event.data:
            executor.send("echo", {"ping": 1})

    events = drain(executor, len(kinds), answer)
    exits = {k: next(e for e in v if e.kind == "exit").data for k, v in events.items()}
    assert events["raise"][0].data == {"hello": 10}  # messages come before the exit
    assert exits["ok"]["ok"] is True and exits["ok"]["exit_code"] == 0
    assert exits["raise"]["error"] == "ZeroDivisionError: boom" and "Traceback" in exits["raise"]["traceback"]
    assert exits["exit"]["error"] == "the task called sys.exit(3)" and exits["exit"]["exit_code"] == 3
    assert exits["segfault"]["signal"] == "SIGSEGV" and not exits["segfault"]["ok"]
    assert exits["oom"]["error"] == "killed by SIGKILL (out of memory?)"
    assert [e.data for e in events["echo"] if e.kind == "message"][1] == {"echo": {"ping": 1}}
    assert (tmp_path / "ok.log").read_text() == "printed by ok\n"
    assert executor.running() == 0


def test_memory_limit_and_cancel(executor: LocalExecutor) -> None:
    executor.submit(Task("memory", {"n": 1, "kind": "memory"}, resources={"memory_mb": 400}))
    executor.submit(Task("sleep", {"n": 2, "kind": "sleep"}))
    events = drain(executor, 1)
    assert "MemoryError" in next(e for e in events["memory"] if e.kind == "exit").data["error"]
    executor.cancel("sleep")
    events = drain(executor, 1)
    assert next(e for e in events["sleep"] if e.kind == "exit").data["error"] == "cancelled"


def test_cpus_limit_concurrency(tmp_path: Path) -> None:
    (tmp_path / "worker_mod.py").write_text(textwrap.dedent(WORKER))
    spec = WorkerSpec(
        "worker_mod:prepare", "worker_mod:run", {"factor": 1}, session={"sys_path": [str(tmp_path)]}
    )
    with LocalExecutor(spec, max_concurrent=4, cpus=2) as ex:
        assert ex.can_start({"cpus": 1})
        ex.submit(Task("a", {"n": 0, "kind": "sleep"}, resources={"cpus": 2}))
        assert not ex.can_start({"cpus": 1})
        assert ex.fits({"cpus": 3}) == "a trial asks for 3 CPUs but this machine has 2"
        assert ex.fits({"gpus": 1}) is not None or ex.fits({"gpus": 1}) is None  # depends on the machine
        ex.cancel("a")
        drain(ex, 1)
        assert ex.can_start({"cpus": 2})


def test_a_worker_that_cannot_prepare_says_why(tmp_path: Path) -> None:
    from torchon_search.executor import ExecutorError

    spec = WorkerSpec("no_such_module:prepare", "no_such_module:run")
    with pytest.raises(ExecutorError, match=r"could not prepare: .*no_such_module"):
        LocalExecutor(spec).start()


def test_modules_tasks_import_are_imported_once_for_later_tasks(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    # lazy_mod notes each process that imports it
    (tmp_path / "lazy_mod.py").write_text(
        "import os, pathlib\n"
        "with open(pathlib.Path(__file__).with_name('imports.log'), 'a') as f:\n"
        "    f.write(f'{os.getpid()}\\n')\n"
    )
    pids = []
    for n in range(3):  # one after the other
        executor.submit(Task(f"lazy{n}", {"n": n, "kind": "lazy"}))
        events = drain(executor, 1)
        pids.append(next(e.data["pid"] for e in events[f"lazy{n}"] if "pid" in e.data))
    importers = [int(line) for line in (tmp_path / "imports.log").read_text().split()]
    # the first task imported it, and so did the zygote once told (while the first task ran); the second task's
    # process may have been forked before that; the third was forked after, and had it already
    assert pids[0] in importers and pids[2] not in importers
    assert len(set(importers) - set(pids)) == 1 and len(importers) == len(set(importers))  # the zygote, once
