"""What a user watches while the Trainer runs: a progress bar per step on a terminal, log lines elsewhere.

On a terminal, a rich progress bar shows the step's iterations, the running training loss, the throughput and the
time left; each finished step leaves one log line (its metrics) above the bar. When the output is not a terminal
(a log file, CI), there is no bar: the same line per step, and a progress line every ``interval`` seconds during
long steps. Updates are throttled by time, so the cost per iteration is one clock read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["StepProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StepProgress:
    """Progress of a run made of ``total_steps`` steps of iterations.

    :param live: show a rich bar when the console is a terminal (else log lines only).
    :param interval: seconds between two plain progress lines within a step (no terminal).
    """

    def __init__(
        self, total_steps: int, logger: logging.Logger, *, live: bool = True, interval: float = 30.0
    ) -> None:
        self.total_steps = total_steps
        self.logger = logger
        self.interval = interval
        self._bar: Any = None
        self._task: Any = None
        if live:
            from rich import get_console

            console = get_console()
            if console.is_terminal and not console.is_dumb_terminal:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                )

                self._bar = Progress(
                    TextColumn("step {task.fields[step]}/{task.fields[steps]}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("it"),
                    TextColumn("loss {task.fields[loss]}"),
                    TextColumn("{task.fields[rate]} it/s"),
                    TextColumn("ETA"),
                    TimeRemainingColumn(),
                    console=console,
                    transient=True,
                )
                self._bar.start()
        self._next = 0.0
        self._started = 0.0
        self._step = 0
        self._iterations = 0

    @property
    def live(self) -> bool:
        return self._bar is not None

    def start_step(self, step: int, iterations: int) -> None:
        self._step, self._iterations = step, iterations
        self._started = time.perf_counter()
        self._next = self._started + (0.1 if self._bar is not None else self.interval)
        if self._bar is not None:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(
                "train", total=iterations, step=step, steps=self.total_steps, loss="-", rate="-"
            )

    def tick(self, done: int, loss: Callable[[], float]) -> None:
        """Called after every iteration with how many of the step's are done; ``loss`` gives the running loss
        (called only when something is shown, since reading it may wait for the device)."""
        now = time.perf_counter()
        if now < self._next:
            return
        elapsed = now - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        if self._bar is not None:
            self._next = now + 0.1
            self._bar.update(self._task, completed=done, loss=f"{loss():.4f}", rate=f"{rate:,.0f}")
            return
        self._next = now + self.interval
        left = (self._iterations - done) / rate if rate > 0 else 0.0
        self.logger.info(
            "step %d/%d: %d/%d it, loss %.4f, %.0f it/s, ETA %s",
            self._step,
            self.total_steps,
            done,
            self._iterations,
            loss(),
            rate,
            format_duration(left),
        )

    def end_step(self, line: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.remove_task(self._task)
            self._task = None
        self.logger.info("%s", line)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
