"""``!Search``: run a searchable runnable over a search space.

```yaml
!Search
trial: !Script
  path: train.py
  kwargs: {lr: !loguniform [1e-4, 1e-1], width: !grid [16, 32]}
metric: loss
mode: min
algorithm: tpe          # grid, random, tpe, cmaes
num_samples: 8          # per point of the !grid dimensions
pruner: asha            # median, asha (successive_halving), hyperband, or {type: asha, min_resource: 2}
max_concurrent: 2
resources: {cpus: 1, gpus: 0}
max_failures: 3
seed: 0
```

Writes, under the run's output folder: ``trials/<key>/`` per trial (its log, metrics, ``result.json``, its bundle
when it is kept), ``results.csv``, ``report.html`` and ``best/`` (the best trial's runnable, as a bundle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from torchon.component import Context, Runnable
from torchon.config.build import Unbuilt
from torchon.errors import RunFailed
from torchon_search.options import check_options, check_runnable, owner_of
from torchon_search.space import find_dimensions

__all__ = ["Search"]


class Search(Runnable):
    """Search ``trial``'s space: each trial a variant of it, run in a worker process, stopped early by the pruner.

    :param trial: the runnable to search, with search-space tags (``!grid``, ``!choice``, ``!uniform``,
        ``!loguniform``, ``!randint``) anywhere inside it.
    :param metric: the reported metric to optimise (its last value in a trial is the trial's result).
    :param mode: ``min`` or ``max``.
    :param algorithm: ``grid`` (every combination; default when every dimension is a ``!grid``), ``random``
        (default otherwise), ``tpe`` or ``cmaes`` (Optuna's samplers).
    :param num_samples: trials per point of the ``!grid`` dimensions (default 1 for grid, else 10).
    :param pruner: ``median``, ``asha`` (``successive_halving``), ``hyperband`` or ``none``; or a mapping with
        ``type`` and the Optuna pruner's arguments. Fed the metric after every ``step()``.
    :param max_concurrent: trials at once (default: as many as the CPUs allow).
    :param resources: per trial: ``cpus`` (default 1), ``gpus`` (default 0), ``memory_mb`` (a limit).
    :param max_failures: stop the search (and fail the run) once more trials than this have failed.
    :param seed: seeds the sampler; a seeded search proposes the same trials again.
    :param executor: what runs the trials (``local``: worker processes on this machine).
    :param checkpoint_every: save the trial's runnable every N steps, so an interrupted search resumes it.
    :param save: whose bundles to keep: ``best`` (default: enough to export the best), ``all`` or ``none``.
    """

    def __init__(
        self,
        trial: Unbuilt,
        metric: str,
        mode: Literal["min", "max"] = "min",
        algorithm: Literal["grid", "random", "tpe", "cmaes"] | None = None,
        num_samples: int | None = None,
        pruner: str | dict[str, Any] | None = None,
        max_concurrent: int | None = None,
        resources: dict[str, float] | None = None,
        max_failures: int | None = None,
        seed: int | None = None,
        executor: str = "local",
        checkpoint_every: int = 0,
        save: Literal["best", "all", "none"] = "best",
    ) -> None:
        if not isinstance(trial, Unbuilt) or trial.config is None:
            raise TypeError("Search is built from a config: its trial must be written in the config")
        self.trial = trial
        root = trial.config.root
        owner, _ = owner_of(root, trial.node)
        base = trial.node.path if hasattr(trial.node, "path") else "trial"
        self._dims = find_dimensions(trial.node, base)
        values = {
            "metric": metric,
            "mode": mode,
            "algorithm": algorithm,
            "num_samples": num_samples,
            "pruner": pruner,
            "max_concurrent": max_concurrent,
            "resources": dict(resources or {}),
            "max_failures": max_failures,
            "seed": seed,
            "executor": executor,
            "checkpoint_every": checkpoint_every,
            "save": save,
        }
        self._options = check_options(values, owner if owner is not None else trial.node, self._dims)
        check_runnable(trial.node, "!Search", needs_step=pruner not in (None, "none"))
        self._base = base
        self._output: Path | None = None

    def setup(self, context: Context) -> None:
        self._output = context.output_dir

    def run(self) -> None:
        from torchon.env import get_env
        from torchon_search.driver import Driver, StageSpec
        from torchon_search.live import Display
        from torchon_search.report import write_report
        from torchon_search.variant import find_path

        out = self._output or Path(get_env().output_dir or ".")
        config = self.trial.config
        keep = None if self._options.save == "all" else (0 if self._options.save == "none" else 1)
        stage = StageSpec(
            "search",
            self.trial.node,
            find_path(config.root, self.trial.node),
            self._base,
            self._dims,
            self._options,
            keep=keep,
            folder="",
        )
        display = Display()
        driver = Driver(
            config,
            [stage],
            out,
            max_concurrent=self._options.max_concurrent,
            executor=self._options.executor,
            display=display,
        )
        try:
            driver.run(["search"])
        finally:
            display.close()
            records = driver.records["search"]
            if records:
                from torchon_search.driver import write_csv

                write_csv(out / "results.csv", records, self._options.metric)
                write_report(out / "report.html", driver, title=f"Search: {Path(config.filename).name}")
        best = driver.export_best("search", out / "best") if self._options.save != "none" else None
        display.summary(driver, out, {"search": best})
        ranked = driver.survivors.get("search") or []
        if not ranked:
            raise RunFailed("no trial completed")
        self.report(step=len(records), best=ranked[0].value if ranked[0].value is not None else 0.0)
