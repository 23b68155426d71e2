"""``!Script``: run a user's existing Python script unchanged, as a (searchable) runnable.

The script runs in a child process with this interpreter, so a crash, ``sys.exit`` or a segfault in it cannot
take torchon down. Its output is streamed to the terminal and to ``logs/script.log``. It may report metrics with
``torchon.report(step=..., **metrics)``: they travel over a pipe to this process, which records them in the
run's ``metrics.jsonl``; each report ends one :meth:`Script.step`, which is what makes a script searchable.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from torchon.api import METRICS_FD_ENV, Context, RunFailed, Runnable, get_env

__all__ = ["Script", "command_line"]

logger = logging.getLogger("torchon.script")
_DONE = object()


def command_line(args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> list[str]:
    """Arguments as a script's argparse expects: positionals, then ``--key value`` (``--flag`` for true)."""
    out = [str(a) for a in args]
    for key, value in (kwargs or {}).items():
        flag = f"--{key}"
        if value is True:
            out.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            out.append(flag)
            out.extend(str(v) for v in value)
        else:
            out.extend([flag, str(value)])
    return out


class Script(Runnable):
    """Run ``path`` (a ``.py`` file) or ``module`` (as ``python -m``) with ``args`` and ``kwargs``.

    :param path: the script; relative paths are looked up from the working folder, then from the config's folder.
    :param module: a module to run instead of a path.
    :param args: positional command-line arguments.
    :param kwargs: options, passed as ``--key value`` (``--key`` alone for true; false and null are left out).
    :param env: extra environment variables for the script.
    :param cwd: the script's working folder (default: the current one).
    """

    def __init__(
        self,
        path: str | None = None,
        module: str | None = None,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        if (path is None) == (module is None):
            raise ValueError("give exactly one of path (a .py file) or module (run as python -m)")
        self.path = path
        self.module = module
        self.args = list(args or [])
        self.kwargs = dict(kwargs or {})
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.cwd = cwd
        self.returncode: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._events: queue.Queue[Any] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._log: IO[str] | None = None
        self._log_lock = threading.Lock()
        self._output_dir: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def setup(self, context: Context) -> None:
        self._output_dir = context.output_dir
        if self._proc is None:
            self.returncode = None  # a fresh setup runs the script again

    def _script_path(self) -> str:
        assert self.path is not None
        candidate = Path(self.path).expanduser()
        config_path = get_env().config_path
        if candidate.is_absolute() or candidate.exists() or not config_path:
            found = candidate
        else:
            found = Path(config_path).parent / candidate
        if not found.is_file():
            places = [Path.cwd()]
            if config_path and Path(config_path).parent.resolve() != Path.cwd().resolve():
                places.append(Path(config_path).parent)
            raise RunFailed(
                f"script {self.path} not found (looked in {' and in '.join(map(str, places))}); "
                "give a path relative to the working folder or to the config's folder"
            )
        return str(found.resolve())

    def _start(self) -> None:
        target = ["-m", self.module] if self.module else [self._script_path()]
        cmd = [sys.executable, "-u", *target, *command_line(self.args, self.kwargs)]
        if self.cwd is not None and not Path(self.cwd).is_dir():
            raise RunFailed(f"cwd {self.cwd} of script {self.path or self.module} is not a folder")
        output_dir = self._output_dir or (Path(get_env().output_dir) if get_env().output_dir else None)
        events: queue.Queue[Any] = queue.Queue()  # one per start: a stopped run's reader cannot feed the next
        read_fd, write_fd = os.pipe()
        env = {**os.environ, **self.env, METRICS_FD_ENV: str(write_fd)}
        try:
            if output_dir is not None:
                env["TORCHON_OUTPUT_DIR"] = str(output_dir)
                (output_dir / "logs").mkdir(parents=True, exist_ok=True)
                self._log = open(output_dir / "logs" / "script.log", "a", encoding="utf-8")
            logger.info("running %s", " ".join(cmd[1:]))
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.cwd,
                env=env,
                pass_fds=(write_fd,),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            self._close_log()
            raise
        finally:
            os.close(write_fd)
        self._events = events
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump, args=(self._proc.stdout, sys.stdout), daemon=True),
            threading.Thread(target=self._pump, args=(self._proc.stderr, sys.stderr), daemon=True),
            threading.Thread(target=self._read_metrics, args=(read_fd, events), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream: IO[bytes], sink: IO[str]) -> None:
        """Copy the child's output as it comes: whole lines, and ``\\r`` updates too (progress bars stay live)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        fd = stream.fileno()
        try:
            while True:
                chunk = os.read(fd, 65536)
                text = decoder.decode(chunk, final=not chunk)
                pending += text
                cut = max(pending.rfind("\n"), pending.rfind("\r")) + 1
                if not chunk:
                    cut = len(pending)
                if cut:
                    self._emit(pending[:cut], sink)
                    pending = pending[cut:]
                if not chunk:
                    break
        finally:
            stream.close()

    def _emit(self, text: str, sink: IO[str]) -> None:
        with self._log_lock:
            try:
                sink.write(text)
                sink.flush()
            except (OSError, ValueError):  # our own stdout went away: keep the log going
                pass
            if self._log is not None:
                self._log.write(text)
                self._log.flush()

    @staticmethod
    def _parse_metrics(line: str) -> tuple[int | None, dict[str, float]] | None:
        """``(step, metrics)`` from one line of the pipe, or None (with a warning) when it is malformed."""
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = None
        if not isinstance(entry, dict):
            logger.warning("ignored a malformed metrics line from the script: %r", line[:200])
            return None
        step = entry.pop("step", None)
        entry.pop("time", None)
        numbers = (int, float)
        bad = [k for k, v in entry.items() if not isinstance(v, numbers) or isinstance(v, bool)]
        if (
            not entry
            or bad
            or not (step is None or (isinstance(step, numbers) and not isinstance(step, bool)))
        ):
            why = f"not numbers: {', '.join(bad)}" if bad else "no metrics" if not entry else "bad step"
            logger.warning("ignored a metrics line from the script (%s): %r", why, line[:200])
            return None
        return (None if step is None else int(step)), entry

    def _read_metrics(self, fd: int, events: queue.Queue[Any]) -> None:
        try:
            with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as stream:
                for line in stream:
                    if not line.strip():
                        continue
                    parsed = self._parse_metrics(line)
                    if parsed is not None:
                        events.put(parsed)
        except Exception:  # never leave step() waiting for an end that does not come
            logger.exception("reading the script's metrics failed")
        finally:
            events.put(_DONE)

    # -- work --------------------------------------------------------------------------------------------

    def step(self) -> bool:
        """Run the script until its next ``torchon.report``; False once it has exited."""
        if self._proc is None:
            if self.returncode is not None:
                return False
            self._start()
        event = self._events.get()
        if event is _DONE:
            self._finish()
            return False
        step, metrics = event
        if metrics:
            self.report(step=step, **metrics)
        return True

    def run(self) -> None:
        while self.step():
            pass

    def _finish(self) -> None:
        assert self._proc is not None
        self.returncode = self._proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        self._proc = None
        self._close_log()
        code = self.returncode
        name = self.path or f"-m {self.module}"
        if code < 0:
            try:
                signame = signal.Signals(-code).name
            except ValueError:
                signame = f"signal {-code}"
            raise RunFailed(f"script {name} was killed by {signame}", exit_status=code)
        if code != 0:
            raise RunFailed(f"script {name} exited with status {code}", exit_status=code)
        logger.info("script %s finished", name)

    def _close_log(self) -> None:
        with self._log_lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    def teardown(self, grace: float = 10.0) -> None:
        """Stop the script if the run ends before it does (interrupted, or stopped early by a search).

        The whole process group goes (the script and whatever it started): SIGTERM, then SIGKILL after ``grace``
        seconds.
        """
        proc = self._proc
        if proc is not None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
            _signal_group(proc.pid, signal.SIGKILL)  # children that outlived the script or ignored SIGTERM
            self.returncode = proc.returncode
            for thread in self._threads:
                thread.join(timeout=1)
        self._proc = None
        self._close_log()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
