"""What ``torchon run`` does: load, pick the output folder, build, set up, run, tear down, record.

An output folder holds ``config.yaml`` (the config as run), ``run.json`` (what ran, with which plugins and
extensions, how it ended), ``torchon.lock`` (what the extensions resolved to and which distributions the run's
classes came from; see :mod:`torchon.lock`), ``logs/run.log`` and ``metrics.jsonl``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from torchon import __version__
from torchon.component import Component, Context
from torchon.config import Built, Config, ConfigError, Mark, load_config
from torchon.env import get_env, set_env
from torchon.errors import RunFailed
from torchon.lock import LOCK_FILE, Lock, LockError

__all__ = ["OutputError", "choose_output_dir", "run_config"]

logger = logging.getLogger("torchon.run")


class OutputError(Exception):
    """The output folder cannot be used as asked."""


def choose_output_dir(config_path: str | Path, output: str | None, *, resume: bool, force: bool) -> Path:
    """The folder this run writes to.

    With ``-o OUT``: OUT, which must be empty unless ``--resume`` (continue it) or ``--force`` (replace it).
    Without: ``runs/<config stem>/<timestamp>``, or with ``--resume`` the latest such folder.
    """
    if output is not None:
        out = Path(output)
        if out.exists() and not out.is_dir():
            raise OutputError(f"output {out} exists and is not a folder")
        if out.is_dir() and any(out.iterdir()):
            if force:
                shutil.rmtree(out)
            elif not resume:
                raise OutputError(
                    f"output folder {out} already holds a run; pass --resume to continue it or --force to replace it"
                )
        out.mkdir(parents=True, exist_ok=True)
        return out
    base = Path("runs") / Path(config_path).stem
    if resume:
        previous = sorted(p for p in base.glob("*") if p.is_dir()) if base.is_dir() else []
        if previous:
            return previous[-1]
        logger.info("nothing to resume under %s; starting a new run", base)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = base / stamp
    n = 1
    while out.exists():
        n += 1
        out = base / f"{stamp}-{n}"
    out.mkdir(parents=True)
    return out


class RunLogHandler(logging.FileHandler):
    """The run's ``logs/run.log``: warnings and errors reach the file at once, other lines at most a second later
    (and at the end). Writing every line through costs a file-system journal update per line, which a training
    loop logging every short step would feel."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        self._next_flush = 0.0
        self._urgent = False

    def emit(self, record: logging.LogRecord) -> None:
        self._urgent = record.levelno >= logging.WARNING
        super().emit(record)

    def flush(self) -> None:
        now = time.monotonic()
        if self._urgent or now >= self._next_flush:
            super().flush()
            self._next_flush = now + 1.0

    def close(self) -> None:
        self._urgent = True  # close() flushes: everything reaches the file
        super().close()


def _configure_logging(out: Path, debug: bool) -> list[logging.Handler]:
    (out / "logs").mkdir(parents=True, exist_ok=True)
    file_handler = RunLogHandler(out / "logs" / "run.log")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    file_handler.setLevel(logging.DEBUG)
    console: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        console = RichHandler(show_path=False, rich_tracebacks=debug)
    else:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console.setLevel(logging.DEBUG if debug else logging.INFO)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(file_handler)
    root.addHandler(console)
    return [file_handler, console]


def _plugin_record() -> dict[str, dict[str, Any]]:
    from torchon.plugins import get_manager

    return {
        name: {
            "distribution": p.distribution,
            "version": p.version,
            **({"error": p.error} if p.error else {}),
        }
        for name, p in get_manager().plugins.items()
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _print_config_error(exc: ConfigError, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc)
    print(exc.format(), file=sys.stderr)


def _build(config: Config) -> Built:
    """Build the objects and check the top one can run: all before anything is written."""
    built = config.build()
    if not callable(getattr(built.root, "run", None)):
        raise ConfigError(
            f"{config.root.label} cannot be run: it has no run() method",
            config.root.mark,
            fix="put a runnable at the top level (a torchon.Runnable such as !Script), and this object inside it",
        ).attach_source(config.text)
    return built


def _check_lock(lock: Lock, current: Lock, config: Config) -> None:
    """Refuse to run when what is installed differs from what ``lock`` records, saying what differs."""
    differences = lock.differences(current)
    if differences:
        raise ConfigError(
            f"what is installed differs from the lock {lock.source}: " + "; ".join(differences),
            Mark(config.filename, 1, 1),
            fix="install the versions the lock lists (pip install 'NAME==VERSION'), or run without --locked",
        )


def run_config(
    config_path: str | Path,
    *,
    output: str | None = None,
    resume: bool = False,
    force: bool = False,
    debug: bool = False,
    install_extensions: bool = False,
    locked: str | Path | None = None,
    executor: str | None = None,
) -> int:
    """Run the config at ``config_path``; returns the exit status (0, 1 failed, 2 usage/config).

    ``install_extensions`` lets git and PyPI extensions be installed; ``locked`` is a lock file whose extensions
    are installed exactly, and whose distributions must be the installed ones. ``executor`` names the executor
    that runs the trials of searches and experiments, in place of their config's. A config that cannot be loaded
    or built writes nothing, so fixing it and running again needs no --force.
    """
    previous_env = get_env()
    if executor is not None:
        from torchon.config.errors import did_you_mean
        from torchon.plugins import get_manager

        known = get_manager().executors
        if executor not in known:
            print(
                f"torchon: error: --executor {executor!r} is not registered"
                f"{did_you_mean(executor, known.names())}; known executors: {', '.join(known.names()) or 'none'}"
                + ("" if "ray" in known else " (plugins add more: torchon-ray adds ray)"),
                file=sys.stderr,
            )
            return 2
    lock: Lock | None = None
    if locked is not None:
        try:
            lock = Lock.read(locked)
        except LockError as exc:
            print(f"torchon: error: {exc}", file=sys.stderr)
            return 2
    try:
        config = load_config(config_path, install=install_extensions, locked=lock)
        run_lock = Lock.from_config(config)
        if lock is not None:
            _check_lock(lock, run_lock, config)
        set_env(
            config.environment(previous_env).replace(
                config_path=str(Path(config_path).resolve()), executor=executor or previous_env.executor
            )
        )
        built = _build(config)
    except ConfigError as exc:
        set_env(previous_env)
        _print_config_error(exc, debug or previous_env.debug)
        return 2
    try:
        out = choose_output_dir(config_path, output, resume=resume, force=force)
    except (OutputError, OSError) as exc:
        set_env(previous_env)
        print(f"torchon: error: {exc}", file=sys.stderr)
        return 2

    from torchon import metrics

    env = get_env().replace(output_dir=str(out.resolve()), debug=debug or config.debug)
    set_env(env)
    handlers = _configure_logging(out, env.debug)
    (out / "config.yaml").write_text(config.text, encoding="utf-8")
    run_lock.write(out / LOCK_FILE)
    record: dict[str, Any] = {
        "config": str(config_path),
        "output": str(out),
        "torchon": __version__,
        "python": sys.version.split()[0],
        "argv": sys.argv,
        "plugins": _plugin_record(),
        "extensions": {r.name: r.to_dict() for r in config.resolved},
        "resume": resume,
        "executor": env.executor,
        "started": _dt.datetime.now(_dt.UTC).isoformat(),
        "status": "running",
    }
    _write_json(out / "run.json", record)
    metrics.start_recording(out / "metrics.jsonl")
    started = time.perf_counter()
    components: list[Component] = []
    status, code = "failed", 1
    try:
        context = Context(env=env, output_dir=out, resume=resume, logger=logger)
        logger.info("run %s -> %s", config_path, out)
        for component in built.components:
            component.setup(context)
            components.append(component)
        built.root.run()
        status, code = "succeeded", 0
        logger.info("run finished in %.1fs; output in %s", time.perf_counter() - started, out)
    except RunFailed as exc:
        logger.error("run failed: %s", exc)
        record["error"] = str(exc)
        if exc.exit_status is not None:
            record["exit_status"] = exc.exit_status
    except KeyboardInterrupt:
        logger.error("interrupted")
        status, code = "interrupted", 130
    except Exception as exc:
        logger.debug("traceback", exc_info=True)
        if env.debug:
            traceback.print_exception(exc)
        logger.error(
            "run failed: %s: %s (traceback in %s)", type(exc).__name__, exc, out / "logs" / "run.log"
        )
        record["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for component in reversed(components):
            try:
                component.teardown()
            except Exception:
                logger.exception("teardown of %s failed", type(component).__name__)
        metrics.stop_recording()
        record.update(
            status=status,
            exit_code=code,
            finished=_dt.datetime.now(_dt.UTC).isoformat(),
            seconds=round(time.perf_counter() - started, 3),
        )
        _write_json(out / "run.json", record)
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
            handler.close()
        set_env(previous_env)
    return code
