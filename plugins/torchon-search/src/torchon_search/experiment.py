"""``!Experiment``: named stages, each possibly searched, later ones linking to earlier ones, with reduce and resume.

```yaml
!Experiment
pipeline:
  train: !my_ext.Train {lr: !loguniform [1e-4, 1e-1], width: !grid [16, 64]}
  test: !my_ext.Evaluate {model: !@ train.model}       # links make the DAG
search:
  train: {metric: val_loss, mode: min, algorithm: tpe, num_samples: 4, pruner: asha}
  test: {metric: accuracy, mode: max}
reduce: {train: 2}                                       # only the 2 best train variants go on
```

A stage starts as soon as the stages it links to are done; stages that do not depend on each other run at the same
time, their trials sharing the executor (its ``max_concurrent`` and resources). Each variant of a stage is a trial of
its own (a worker process); its output is saved once as a bundle, and downstream stages load that bundle instead of
rebuilding or retraining it. A stage runs
once per combination of the surviving variants of the stages it links to. Every variant is keyed by a hash of its
resolved config and its inputs' keys, so rerunning (``torchon run --resume``, even after the driver was killed)
skips finished variants, and changing one stage reruns it and what depends on it, nothing else. The best variant
of each stage is exported to ``best/<stage>/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchon.api import (
    CList,
    CMap,
    ConfigError,
    Context,
    LinkNode,
    RunFailed,
    Runnable,
    TagNode,
    Unbuilt,
    did_you_mean,
    walk,
)
from torchon_search.options import check_options, check_runnable, owner_of
from torchon_search.space import find_dimensions

__all__ = ["Experiment"]


def _links(value: Any) -> list[LinkNode]:
    return [node for node in walk(value) if isinstance(node, LinkNode)]


def _anchor(link: LinkNode) -> Any:
    anchor = link.anchor
    while isinstance(anchor, LinkNode):
        anchor = anchor.anchor
    return anchor


class Experiment(Runnable):
    """Run ``pipeline``'s stages, each once the stages it links to are done (independent ones at the same time),
    searching those with search-space tags.

    :param pipeline: stage name -> the component or runnable of that stage (search-space tags allowed inside;
        links ``!@ stage.attr`` to earlier stages).
    :param search: stage name -> the search options of that stage (:class:`torchon_search.options.SearchOptions`,
        the options of ``!Search``: ``metric``, ``mode``, ``algorithm``, ``num_samples``, ``pruner``, ...).
    :param reduce: stage name -> how many of its best variants (by its metric and mode) go on to later stages.
    :param options: search options for every stage (a stage's own, under ``search``, take precedence).
    """

    def __init__(
        self,
        pipeline: Unbuilt,
        search: dict[str, dict[str, Any]] | None = None,
        reduce: dict[str, int] | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(pipeline, Unbuilt) or pipeline.config is None:
            raise TypeError("Experiment is built from a config: its pipeline must be written in the config")
        self.pipeline = pipeline
        node = pipeline.node
        owner, _ = owner_of(pipeline.config.root, node)
        where = owner if owner is not None else node
        if not isinstance(node, CMap) or not node:
            raise ConfigError(
                "!Experiment's pipeline must be a mapping of stage names to components",
                getattr(node, "mark", None),
                fix="write `pipeline:` then one `name: !Component {...}` line per stage",
            )
        names = [str(k) for k in node]
        self._stage_nodes = {str(k): v for k, v in node.items()}
        search_nodes = owner.kwargs.get("search") if isinstance(owner, TagNode) else None
        reduce_nodes = owner.kwargs.get("reduce") if isinstance(owner, TagNode) else None
        for mapping, label in ((search or {}, "search"), (reduce or {}, "reduce")):
            marks = search_nodes if label == "search" else reduce_nodes
            for key in mapping:
                if key not in self._stage_nodes:
                    mark = marks.key_marks.get(key) if isinstance(marks, CMap) else None
                    raise ConfigError(
                        f"!Experiment's {label} names stage {key!r}, which is not in the pipeline"
                        f"{did_you_mean(str(key), names)}",
                        mark,
                        fix=f"the stages are: {', '.join(names)}",
                    )
        check_options(options, where, [], label="!Experiment", arguments=("pipeline", "search", "reduce"))
        self._stages: dict[str, Any] = {}
        for name, stage_node in self._stage_nodes.items():
            base = getattr(stage_node, "path", "") or f"pipeline.{name}"
            dims = find_dimensions(stage_node, base)
            own = dict((search or {}).get(name) or {})
            if not isinstance(own, Mapping):
                raise ConfigError(
                    f"!Experiment: search options of stage {name} must be a mapping",
                    where.mark,
                    fix="write search: {stage: {metric: loss, mode: min}}",
                )
            options_where = search_nodes.get(name) if isinstance(search_nodes, CMap) else where
            opts = check_options({**options, **own}, options_where, dims, label=f"stage {name}")
            if not isinstance(stage_node, TagNode) or stage_node.kind != "component":
                raise ConfigError(
                    f"stage {name} must be a tagged component or runnable",
                    getattr(stage_node, "mark", None) or node.value_marks.get(name),
                    fix="write `name: !Component {...}`",
                )
            if opts.pruner not in (None, "none"):
                check_runnable(stage_node, f"stage {name}", needs_step=True, what="component")
            self._stages[name] = {"node": stage_node, "base": base, "dims": dims, "options": opts}
        for name, k in (reduce or {}).items():
            if not isinstance(k, int) or isinstance(k, bool) or k < 1:
                mark = reduce_nodes.value_marks.get(name) if isinstance(reduce_nodes, CMap) else None
                raise ConfigError(
                    f"reduce {name}: keep a whole number of variants, at least 1 (got {k!r})",
                    mark,
                    fix=f"write reduce: {{{name}: 2}}",
                )
            if not self._stages[name]["options"].metric:
                mark = reduce_nodes.key_marks.get(name) if isinstance(reduce_nodes, CMap) else None
                raise ConfigError(
                    f"reduce {name}: stage {name} has no metric to rank its variants by",
                    mark,
                    fix=f"give it one: search: {{{name}: {{metric: loss, mode: min}}}}",
                )
        self._reduce = dict(reduce or {})
        self._order = self._dependencies()
        self._output: Path | None = None

    def _dependencies(self) -> list[str]:
        from torchon_search.variant import node_index

        owners: dict[int, str] = {}
        for name, stage in self._stages.items():
            for node_id in node_index(stage["node"]):
                owners[node_id] = name
        for name, stage in self._stages.items():
            deps: list[str] = []
            for link in _links(stage["node"]):
                anchor = _anchor(link)
                target = owners.get(id(anchor)) if isinstance(anchor, (TagNode, CMap, CList)) else None
                if target is not None and target != name and target not in deps:
                    deps.append(target)
            stage["deps"] = deps
        order: list[str] = []
        remaining = list(self._stages)
        while remaining:
            ready = [n for n in remaining if all(d in order for d in self._stages[n]["deps"])]
            if not ready:
                cycle = ", ".join(remaining)
                raise ConfigError(
                    f"!Experiment's stages link to each other in a cycle ({cycle})",
                    self._stages[remaining[0]]["node"].mark,
                    fix="a stage may link only to stages that do not link back to it",
                )
            order.append(ready[0])
            remaining.remove(ready[0])
        return order

    def setup(self, context: Context) -> None:
        self._output = context.output_dir

    def best(self) -> dict[str, Any] | None:
        """The last stage's best trial (``torchon runs`` and ``compare`` show it)."""
        return getattr(self, "_best", None)

    def run(self) -> None:
        from torchon.api import get_env
        from torchon_search.driver import Driver, StageSpec
        from torchon_search.live import Display
        from torchon_search.records import write_csv
        from torchon_search.report import write_report
        from torchon_search.search import best_of
        from torchon_search.variant import find_path

        out = self._output or Path(get_env().output_dir or ".")
        config = self.pipeline.config
        dependents = {d for s in self._stages.values() for d in s["deps"]}
        specs = []
        for name in self._order:
            stage = self._stages[name]
            opts = stage["options"]
            if name in self._reduce:
                keep: int | None = self._reduce[name]
            elif name in dependents or opts.save == "all":
                keep = None
            else:
                keep = 1
            specs.append(
                StageSpec(
                    name,
                    stage["node"],
                    find_path(config.root, stage["node"]),
                    stage["base"],
                    stage["dims"],
                    opts,
                    deps=stage["deps"],
                    keep=keep,
                    folder=name,
                )
            )
        display = Display()
        concurrency = max((s.options.max_concurrent or 0) for s in specs) or None
        driver = Driver(
            config,
            specs,
            out,
            max_concurrent=concurrency,
            executor=specs[0].options.executor,
            display=display,
        )
        best: dict[str, Any] = {}
        try:
            driver.run(self._order, self._reduce)
        finally:
            display.close()
            records = [r for name in self._order for r in driver.records.get(name, [])]
            if records:
                write_csv(out / "results.csv", records, None)
                write_report(out / "report.html", driver, title=f"Experiment: {Path(config.filename).name}")
        (out / "best").mkdir(exist_ok=True)
        for name in self._order:
            best[name] = driver.export_best(name, out / "best" / name)
        display.summary(driver, out, best)
        last = next((n for n in reversed(self._order) if driver.survivors.get(n)), None)
        if last is not None:  # the last stage's best trial: what the experiment ends with
            self._best = best_of(driver.survivors[last][0], self._stages[last]["options"], last)
        if not any(best.values()) and not any(driver.survivors.values()):
            raise RunFailed("no stage produced a result")
