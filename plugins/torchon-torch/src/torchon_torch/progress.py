"""What a user watches while the Trainer runs: a progress bar per step on a terminal, log lines elsewhere.

On a terminal, a rich progress bar shows the step's iterations, the running training loss, the throughput and the
time left; a finished step leaves one log line (its metrics) above the bar. When the output is not a terminal (a log
file, CI), there is no bar: the same line per step, and a progress line every ``interval`` seconds during long
steps. Updates are throttled by time, so the cost per iteration is one clock read.

Step lines are throttled too: a step ending less than ``line_interval`` seconds after the last line leaves none
(the first and the last step always do). Steps of a few milliseconds would otherwise write hundreds of lines a
second, which nobody reads and which cost a training loop of such steps a few percent of its speed; their metrics
are all in ``metrics.jsonl`` and TensorBoard either way.
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
    :param line_interval: seconds from one step line to the next at the least (0: a line for every step).
    """

    def __init__(
        self,
        total_steps: int,
        logger: logging.Logger,
        *,
        live: bool = True,
        interval: float = 30.0,
        line_interval: float = 0.0,
    ) -> None:
        self.total_steps = total_steps
        self.logger = logger
        self.interval = interval
        self.line_interval = line_interval
        self._next_line = 0.0  # the first step's line is always written
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

    def end_step(self, line: Callable[[], str], *, last: bool = False) -> bool:
        """The step is over: log its ``line()`` (unless throttled; always when it is the ``last``); says whether
        it was logged."""
        if self._bar is not None and self._task is not None:
            self._bar.remove_task(self._task)
            self._task = None
        now = time.monotonic()
        if not last and now < self._next_line:
            return False
        self._next_line = now + self.line_interval
        self.logger.info("%s", line())
        return True

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
