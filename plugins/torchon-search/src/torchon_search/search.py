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
from typing import Any

from torchon.api import Context, RunFailed, Runnable, Unbuilt
from torchon_search.options import check_options, check_runnable, owner_of
from torchon_search.space import find_dimensions

__all__ = ["Search"]


class Search(Runnable):
    """Search ``trial``'s space: each trial a variant of it, run in a worker process, stopped early by the pruner.

    :param trial: the runnable to search, with search-space tags (``!grid``, ``!choice``, ``!uniform``,
        ``!loguniform``, ``!randint``) anywhere inside it.
    :param options: the search options (:class:`torchon_search.options.SearchOptions`): ``metric`` (required),
        ``mode``, ``algorithm``, ``num_samples``, ``pruner``, ``max_concurrent``, ``resources``, ``max_failures``,
        ``seed``, ``executor``, ``checkpoint_every``, ``save``.
    """

    def __init__(self, trial: Unbuilt, **options: Any) -> None:
        if not isinstance(trial, Unbuilt) or trial.config is None:
            raise TypeError("Search is built from a config: its trial must be written in the config")
        self.trial = trial
        owner, _ = owner_of(trial.config.root, trial.node)
        base = trial.node.path if hasattr(trial.node, "path") else "trial"
        self._dims = find_dimensions(trial.node, base)
        self._options = check_options(
            options,
            owner if owner is not None else trial.node,
            self._dims,
            required=("metric",),
            arguments=("trial",),
        )
        check_runnable(trial.node, "!Search", needs_step=self._options.pruner not in (None, "none"))
        self._base = base
        self._output: Path | None = None

    def setup(self, context: Context) -> None:
        self._output = context.output_dir

    def run(self) -> None:
        from torchon.api import get_env
        from torchon_search.driver import Driver, StageSpec
        from torchon_search.live import Display
        from torchon_search.records import write_csv
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
                write_csv(out / "results.csv", records, self._options.metric)
                write_report(out / "report.html", driver, title=f"Search: {Path(config.filename).name}")
        best = driver.export_best("search", out / "best") if self._options.save != "none" else None
        display.summary(driver, out, {"search": best})
        ranked = driver.survivors.get("search") or []
        if not ranked:
            raise RunFailed("no trial completed")
        self._best = best_of(ranked[0], self._options)
        self.report(step=len(records), best=ranked[0].value if ranked[0].value is not None else 0.0)

    def best(self) -> dict[str, Any] | None:
        """The best trial's metric (``torchon runs`` and ``compare`` show it)."""
        return getattr(self, "_best", None)


def best_of(record: Any, options: Any, stage: str | None = None) -> dict[str, Any] | None:
    """What ``run.json`` records as a search's best result: the best trial's metric, and which trial."""
    if record.value is None:
        return None
    at = f"{stage} trial {record.number}" if stage else f"trial {record.number}"
    return {"metric": options.metric, "value": record.value, "mode": options.mode, "at": at}
