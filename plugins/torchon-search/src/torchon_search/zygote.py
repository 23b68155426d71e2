"""The local executor's worker process: prepares once, then forks one child per task.

Started by :class:`torchon_search.local.LocalExecutor` as ``python -m torchon_search.zygote FD``, where ``FD`` is
its end of a ``SOCK_SEQPACKET`` socket pair (one JSON message per packet). It loads the driver's plugins and
environment, calls the worker's ``prepare`` once (loading the config, importing the classes a trial builds), and
then keeps one *spare* child forked ahead of time. Forking from a prepared process is what makes a trial cheap to
start (no interpreter start, no imports) while still isolating it: a trial that crashes, exits or segfaults takes
only its own child down. The zygote stays single-threaded, so forking it is safe.

Each spare has its own socket pair to the driver; the zygote hands the driver its end with ``SCM_RIGHTS`` in a
``spare`` message. The driver starts a task by sending it straight to a spare (one hop: the zygote is not on the
way), then says ``assign`` to the zygote, which forks the next spare. The zygote reports each child's exit status
(signals included) by pid when it reaps it, and kills children by pid on the driver's word.

A child says which modules it imported that the zygote had not (a library its classes import on first use, such as
scikit-learn's datasets or ``torch._dynamo``, which creating a torch optimizer imports: seconds each) with its next
message; the driver passes that on, and the zygote imports them and offers a new spare that has them (the driver
drops the older one), so that later children start with them.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from torchon.api import session

MAX_PACKET = 1 << 20
_TRACEBACK_LIMIT = 20000


def _send(sock: socket.socket, message: Mapping[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message, default=str).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


class ChildChannel:
    """A task's end of its link to the driver (see :class:`torchon_search.executor.Channel`).

    Before a message, it says which modules the task has imported since the last one that the zygote did not
    have (``had``): the zygote imports them for later tasks while this one goes on.
    """

    def __init__(self, sock: socket.socket, had: set[str] | None = None) -> None:
        self._sock = sock
        self._had = set(sys.modules) if had is None else had
        self._count = len(sys.modules)

    def send(self, message: Mapping[str, Any]) -> None:
        if len(sys.modules) != self._count:
            self.report_imports()
        _send(self._sock, message)

    def report_imports(self) -> None:
        new = [m for m in list(sys.modules) if m not in self._had and not m.startswith("__")]
        self._count = len(sys.modules)
        if new:
            self._had.update(new)
            _send(self._sock, {"__imports__": new})

    def recv(self, timeout: float | None = None) -> Mapping[str, Any] | None:
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(MAX_PACKET)
        except TimeoutError:
            return None
        finally:
            self._sock.settimeout(None)
        if not data:
            raise EOFError("the driver closed the link to this task")
        result: Mapping[str, Any] = json.loads(data)
        return result


def _apply_resources(resources: Mapping[str, Any], gpu_ids: list[int] | None) -> None:
    cpus = resources.get("cpus")
    if cpus:
        threads = str(max(1, int(float(cpus))))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = threads
        torch = sys.modules.get("torch")
        if torch is not None:
            try:
                torch.set_num_threads(int(threads))
            except Exception:
                pass
    if gpu_ids is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpu_ids))
    memory_mb = resources.get("memory_mb")
    if memory_mb:
        import resource

        limit = int(float(memory_mb) * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _exit_code(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _run_child(
    sock: socket.socket,
    message: Mapping[str, Any],
    run: Any,
    prepared: Any,
    saved_fds: tuple[int, int],
    had: set[str],
) -> None:
    """In the forked child: redirect output, apply resources, run the task, say which modules it imported that
    the zygote had not (``had``), and leave with ``os._exit``."""
    code = 1
    channel = ChildChannel(sock, had)
    try:
        log = message.get("log")
        if log:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
        else:
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
        _apply_resources(message.get("resources") or {}, message.get("gpu_ids"))
        run(prepared, message["payload"], channel)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
        try:
            _send(sock, {"__exit__": {"error": f"the task called sys.exit({exc.code!r})", "exit_code": code}})
        except OSError:
            pass
    except BaseException as exc:
        code = 1
        try:
            _send(
                sock,
                {
                    "__exit__": {
                        "error": f"{type(exc).__name__}: {exc}"[:2000],
                        "traceback": traceback.format_exc()[-_TRACEBACK_LIMIT:],
                    }
                },
            )
        except OSError:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        try:
            channel.report_imports()
        except (OSError, ValueError):
            pass
        os._exit(code)


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def _describe_status(status: int) -> dict[str, Any]:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return {"exit_code": None, "signal": name}
    return {"exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None, "signal": None}


class Zygote:
    """The worker process's server, on its control socket to the driver (``ctrl``).

    :meth:`serve` reads the ``setup`` message and prepares (:meth:`prepare`), says ``ready`` (or ``error``), keeps a
    spare child forked (:meth:`fork_spare`), and then hands each message of the driver to the method named for its
    ``op`` (``on_import``, ``on_assign``, ``on_kill``; others are ignored), reporting children's exits as it reaps
    them, until the driver closes the socket; then it kills the children left.
    """

    def __init__(self, ctrl: socket.socket) -> None:
        self.ctrl = ctrl
        self.run: Any = None  # the worker's ``run``, and what its ``prepare`` returned
        self.prepared: Any = None
        self.children: set[int] = set()  # forked and not yet reaped: the spare and the tasks
        self.spare = 0  # the child waiting for a task
        self.handlers = {"import": self.on_import, "assign": self.on_assign, "kill": self.on_kill}
        self._selector: selectors.BaseSelector | None = None
        self._wake: tuple[int, int] = (-1, -1)  # SIGCHLD's wakeup pipe (read end, write end)
        # the zygote's own stdout and stderr, for children whose task names no log
        self._saved_fds: tuple[int, int] = (-1, -1)

    # -- the driver's messages -------------------------------------------------------------------------------

    def prepare(self, setup: Mapping[str, Any]) -> None:
        """``setup`` (the first message, with no ``op``): take over the driver's state, import the worker's
        ``run``, call its ``prepare``."""
        from torchon.api import import_target

        session.restore(setup.get("session") or {})
        self.run = import_target(setup["run"])
        self.prepared = import_target(setup["prepare"])(setup.get("prepare_args") or {})

    def on_import(self, message: Mapping[str, Any]) -> None:
        """Import what tasks imported on their own (heavy libraries their classes load on first use), then offer
        a spare that has them (the driver drops the older): spares forked from now on have them already, instead
        of each task importing them again."""
        for name in message["modules"]:
            if name not in sys.modules:
                try:
                    importlib.import_module(name)
                except Exception:  # not importable by name (made at run time): the task makes it again
                    pass
        gc.collect()
        gc.freeze()
        self.spare = self.fork_spare()

    def on_assign(self, message: Mapping[str, Any]) -> None:
        """The driver gave child ``pid`` a task: fork the next spare if it was the spare."""
        if message["pid"] == self.spare:
            self.spare = self.fork_spare()
        self.reap()

    def on_kill(self, message: Mapping[str, Any]) -> None:
        """Stop child ``pid`` (``SIGTERM`` when ``gentle``, else ``SIGKILL``), with what it started."""
        if message["pid"] in self.children:
            _signal_child(message["pid"], signal.SIGTERM if message.get("gentle") else signal.SIGKILL)

    # -- serving ---------------------------------------------------------------------------------------------

    def serve(self) -> None:
        """Prepare, then serve the driver's messages until it closes the socket."""
        setup = json.loads(self.ctrl.recv(MAX_PACKET))
        try:
            self.prepare(setup)
        except BaseException as exc:
            _send(
                self.ctrl,
                {"op": "error", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()},
            )
            return
        # What is loaded now is shared by every child: keep the collector from walking it (and so copying its
        # pages) in each of them.
        gc.collect()
        gc.freeze()
        _send(self.ctrl, {"op": "ready", "pid": os.getpid()})
        selector = self._listen()
        self.spare = self.fork_spare()
        try:
            while True:
                for key, _ in selector.select():
                    if key.data == "wake":
                        self._drain_wakeup()
                        self.reap()
                        continue
                    data = self.ctrl.recv(MAX_PACKET)
                    if not data:
                        return
                    message = json.loads(data)
                    handler = self.handlers.get(message["op"])
                    if handler is not None:
                        handler(message)
        except ConnectionError:  # the driver went away: nothing to report to
            pass
        finally:
            for pid in self.children:
                _signal_child(pid, signal.SIGKILL)

    def _listen(self) -> selectors.BaseSelector:
        """Watch the control socket, and children's exits (``SIGCHLD`` through a wakeup pipe)."""
        self._saved_fds = (os.dup(1), os.dup(2))
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self._wake = (wake_r, wake_w)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self.ctrl, selectors.EVENT_READ, "ctrl")
        selector.register(wake_r, selectors.EVENT_READ, "wake")
        self._selector = selector
        return selector

    def _drain_wakeup(self) -> None:
        try:
            while os.read(self._wake[0], 512):
                pass
        except BlockingIOError:
            pass

    def fork_spare(self) -> int:
        """Fork a child that gets ready for a task (its own session, its signal handler) and waits for it on
        its socket to the driver, then hand the driver that socket: starting a task is then one message."""
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            parent_end.close()
            self._become_child(child_end)
        child_end.close()
        self.children.add(pid)
        _send(self.ctrl, {"op": "spare", "pid": pid}, [parent_end.fileno()])
        parent_end.close()
        return pid

    def _become_child(self, sock: socket.socket) -> None:
        """In a forked spare: drop the zygote's part, wait for a task on ``sock``, run it, and leave."""
        assert self._selector is not None
        self._selector.close()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(self._wake[0])
        os.close(self._wake[1])
        self.ctrl.close()
        os.setsid()  # its own process group: cancelling it stops what it started too
        signal.signal(signal.SIGTERM, _terminate)
        had = set(sys.modules)
        try:
            data = sock.recv(MAX_PACKET)
        except (OSError, KeyboardInterrupt):
            data = b""
        if not data:  # the driver or the zygote is closing
            os._exit(0)
        _run_child(sock, json.loads(data), self.run, self.prepared, self._saved_fds, had)

    def reap(self) -> None:
        """Report the exit of every child that has ended (``exit``), and fork a spare in place of one that died."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            _send(self.ctrl, {"op": "exit", "pid": pid, **_describe_status(status)})
            if pid == self.spare:  # it died waiting (killed from outside), or ran a task before "assign" came
                self.spare = self.fork_spare()


def _signal_child(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:  # not yet in a group of its own
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    except PermissionError:
        pass


def main(argv: list[str]) -> None:
    ctrl = socket.socket(fileno=int(argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the driver, which decides
    Zygote(ctrl).serve()
    # Its children are gone: tearing the interpreter down (torch and all) would only keep the driver waiting.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
