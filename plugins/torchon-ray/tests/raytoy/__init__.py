"""A small extension for torchon-ray's tests: a searchable Fit that can crash on purpose, and a Score stage."""

import json
import os
import time
from pathlib import Path

import torchon


class Weights(torchon.Component):
    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.values = [0.0] * size


class Fit(torchon.Runnable):
    """loss = (rate - 0.3)^2 + 1 / (round * size), so wide weights and rates near 0.3 win."""

    def __init__(
        self, weights: Weights, rate: float = 0.1, rounds: int = 2, crash: str = "", pause: float = 0.0
    ) -> None:
        self.weights, self.rate, self.rounds, self.crash, self.pause = weights, rate, rounds, crash, pause
        self.round = 0

    def setup(self, context: torchon.Context) -> None:
        env = torchon.get_env()
        self._folder = Path(env.output_dir or ".")
        record = {"hosts": list(env.hosts), "trial": dict(env.extra.get("trial") or {}), "pid": os.getpid()}
        (self._folder / "env.json").write_text(json.dumps(record))
        self._started = time.time()

    def step(self) -> bool:
        self.round += 1
        time.sleep(self.pause)
        if self.round == self.rounds:  # when the trial ran: to see which ran at the same time
            (self._folder / "span.json").write_text(json.dumps([self._started, time.time()]))
        if self.crash == "kill":
            os.kill(os.getpid(), 9)
        if self.crash == "kill_host":  # the trial's parent is the prepared worker; its parent the Ray actor
            host = int(Path(f"/proc/{os.getppid()}/stat").read_text().split(")")[1].split()[1])
            os.kill(host, 9)
        self.weights.values = [v + self.rate for v in self.weights.values]
        self.report(step=self.round, loss=(self.rate - 0.3) ** 2 + 1.0 / (self.round * self.weights.size))
        return self.round < self.rounds


class Score(torchon.Runnable):
    def __init__(self, weights: Weights) -> None:
        self.weights = weights

    def run(self) -> None:
        self.report(score=sum(self.weights.values))
