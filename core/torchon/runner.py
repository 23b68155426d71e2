"""What ``torchon run`` does: load, check and build the config (writing nothing), pick the output folder
(:class:`~torchon.run_folder.RunFolder`), then set up, run and tear down (:func:`torchon.session.running`) and
record how it ended."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torchon import __version__, metrics
from torchon._component import Context
from torchon.config import Built, Config, ConfigError, Mark, load_config
from torchon.env import get_env, set_env
from torchon.errors import RunFailed, UserError, report_error
from torchon.lock import Lock
from torchon.run_folder import OutputError, RunFolder
from torchon.session import RunInfo, run_finished, run_started, running

__all__ = ["OutputError", "run_config"]

logger = logging.getLogger("torchon.run")


class RunLogHandler(logging.FileHandler):
    """The run's ``logs/run.log``: warnings and errors reach the file at once, other lines at most a second later,
    as writing every line through costs a journal update per line, which a short training step would feel."""

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


def _configure_logging(log: Path, debug: bool) -> list[logging.Handler]:
    log.parent.mkdir(parents=True, exist_ok=True)
    file_handler = RunLogHandler(log)
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


def _build(config: Config) -> Built:
    """Build the objects and check the top one can run: all before anything is written."""
    built = config.build()
    if not callable(getattr(built.root, "run", None)):
        what = f"{config.root.label} cannot be run: it has no run() method"
        fix = (
            "put a runnable at the top level (a torchon.Runnable such as !Script), and this object inside it"
        )
        raise ConfigError(what, config.root.mark, fix=fix).attach_source(config.text)
    return built


def _load(
    config_path: str | Path, install: bool, locked: str | Path | None, overrides: Sequence[str]
) -> tuple[Config, Lock]:
    """Load and check the config (with the command line's overrides), and check it against the lock."""
    lock = Lock.read(locked) if locked is not None else None
    config = load_config(config_path, install=install, locked=lock, overrides=overrides)
    run_lock = Lock.from_config(config)
    if lock is not None and (differences := lock.differences(run_lock)):
        what = f"what is installed differs from the lock {lock.source}: " + "; ".join(differences)
        fix = "install the versions the lock lists (pip install 'NAME==VERSION'), or run without --locked"
        raise ConfigError(what, Mark(config.filename, 1, 1), fix=fix)
    return config, run_lock


def _check_resume(folder: RunFolder, config: Config) -> None:
    """``--resume`` continues a run only with the overrides it ran with: refuse, showing what differs."""
    if not RunFolder.holds_run(folder.path):
        return
    before = list(folder.read_record().get("overrides", []))
    if before == config.overrides:
        return
    import difflib

    previous = folder.file(RunFolder.CONFIG)
    old = previous.read_text(encoding="utf-8").splitlines(keepends=True) if previous.is_file() else []
    new = config.as_run().splitlines(keepends=True)
    diff = "".join(difflib.unified_diff(old, new, f"{previous} (the run)", "this command"))
    raise OutputError(
        f"{folder.path} ran with other overrides than these; --resume continues a run only as it started\n"
        f"  that run:     {' '.join(before) or '(none)'}\n  this command: {' '.join(config.overrides) or '(none)'}"
        + (f"\n{diff.rstrip()}" if diff else "")
        + "\n  fix: resume with the run's own overrides; or start over with --force instead of --resume (with -o "
        "OUT it replaces the folder), or leave out --resume for a new run"
    )


def _record(
    config_path: str | Path, folder: RunFolder, config: Config, resume: bool, options: Mapping[str, Any]
) -> dict[str, Any]:
    from torchon.plugins import get_manager

    plugins: dict[str, dict[str, Any]] = {}
    for name, p in get_manager().plugins.items():
        plugins[name] = {"distribution": p.distribution, "version": p.version}
        if p.error:
            plugins[name]["error"] = p.error
    return {
        **options,  # what plugins' command-line options put in force (``--executor``)
        "config": str(config_path),
        "output": str(folder.path),
        "torchon": __version__,
        "python": sys.version.split()[0],
        "argv": sys.argv,
        "plugins": plugins,
        "extensions": {r.name: r.to_dict() for r in config.resolved},
        "overrides": config.overrides,
        "resume": resume,
        "started": _dt.datetime.now(_dt.UTC).isoformat(),
        "status": "running",
        # which process runs it: `torchon runs` tells a run still going from one whose process was killed
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def run_config(
    config_path: str | Path,
    *,
    output: str | None = None,
    resume: bool = False,
    force: bool = False,
    check: bool = False,
    print_config: bool = False,
    debug: bool = False,
    install_extensions: bool = False,
    locked: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> int:
    """Run the config at ``config_path``; returns the exit status (0, 1 failed, 2 usage/config). ``options`` (what
    plugins' command-line options put in force) join the environment's ``extra`` and ``run.json``. A config that
    cannot be loaded or built writes nothing, so fixing it and running again needs no --force. ``check`` and
    ``print_config`` stop after everything checked before building: nothing built or written."""
    previous = get_env()
    try:
        options = dict(options or {})
        config, run_lock = _load(config_path, install_extensions, locked, overrides)
        if print_config:
            sys.stdout.write(config.as_run())
            return 0
        if check:
            print(f"{config_path}: ok" + (f" (with {len(overrides)} override(s))" if overrides else ""))
            return 0
        env = config.environment(previous)
        set_env(env.replace(config_path=str(Path(config_path).resolve()), extra={**env.extra, **options}))
        built = _build(config)
        folder = RunFolder.choose(config_path, output, resume=resume, force=force)
        if resume:
            _check_resume(folder, config)
        verbose = debug or config.debug or previous.debug
        set_env(get_env().replace(output_dir=str(folder.path.resolve()), debug=verbose))
        return _execute(
            config, run_lock, built, folder, _record(config_path, folder, config, resume, options)
        )
    except UserError as exc:  # before the run started: nothing was written
        return report_error(exc, debug=debug or previous.debug)
    finally:
        set_env(previous)


def _record_best(root: Any, record: dict[str, Any]) -> None:
    """Record what the runnable says its best result was (``best()``) in ``run.json``."""
    try:
        best = root.best() if callable(getattr(root, "best", None)) else None
        if best is not None:
            record["best"] = {str(k): v for k, v in dict(best).items()}
            if not {"metric", "value"} <= record["best"].keys():
                form = "{'metric': NAME, 'value': NUMBER} (optionally 'mode' and 'at')"
                logger.warning(
                    "%s.best() gave %r; run history shows a best result given as %s",
                    type(root).__name__,
                    best,
                    form,
                )
    except Exception:  # the record is a courtesy: it never changes how the run ends
        logger.warning("%s.best() failed", type(root).__name__, exc_info=True)


def _execute(config: Config, run_lock: Lock, built: Built, folder: RunFolder, record: dict[str, Any]) -> int:
    """Write the run's folder, set up, run and tear down ``built`` there; the exit status."""
    env = get_env()
    handlers = _configure_logging(folder.file(RunFolder.LOG), env.debug)
    folder.write_config(config.as_run())
    run_lock.write(folder.file(RunFolder.LOCK))
    folder.write_record(record)
    metrics.start_recording(folder.file(RunFolder.METRICS))
    started = time.perf_counter()
    status, code = "failed", 1
    info = RunInfo(folder.path, config, built.root, record)  # what plugins' lifecycle hooks see
    try:
        run_started(info)
        context = Context(env=env, output_dir=folder.path, resume=record["resume"], logger=logger)
        logger.info("run %s -> %s", record["config"], folder.path)
        with running(built.components, context):
            built.root.run()
        status, code = "succeeded", 0
        logger.info("run finished in %.1fs; output in %s", time.perf_counter() - started, folder.path)
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
        log = folder.file(RunFolder.LOG)
        logger.error("run failed: %s: %s (traceback in %s)", type(exc).__name__, exc, log)
        record["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        metrics.stop_recording()
        seconds = round(time.perf_counter() - started, 3)
        finished = _dt.datetime.now(_dt.UTC).isoformat()
        record.update(status=status, exit_code=code, finished=finished, seconds=seconds)
        _record_best(built.root, record)
        folder.write_record(record)
        run_finished(info)
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
            handler.close()
    return code
