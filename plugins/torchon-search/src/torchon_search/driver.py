"""The search driver: asks Optuna for trials, runs them on an executor, feeds the pruner, records everything.

One :class:`Driver` serves a Search (one stage) or an Experiment (stages in dependency order). A stage runs one
Optuna study per combination of its inputs (the surviving variants of the stages it links to), each with the
stage's sampler, pruner and budget, and keeps the best ``keep`` variants' outputs as bundles. Every trial is keyed
by a hash of its resolved config and its inputs' keys; a trial whose ``result.json`` exists under its key is not run
again but told to the study as it was, so a rerun of a seeded search retraces the same steps. What is recorded of
a trial, and read back on a rerun, is :mod:`torchon_search.records`; its worker processes start from this one's
:func:`torchon.session.capture`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchon.api import RunFailed, session
from torchon_search import hooks
from torchon_search.executor import Executor, Task, TaskEvent, WorkerSpec
from torchon_search.options import PRUNERS, SearchOptions
from torchon_search.records import FINISHED, TrialRecord, better, first_error, rank, read_resume, write_csv
from torchon_search.space import Dimension, describe, grid_points, suggest

__all__ = ["Driver", "StageSpec"]

logger = logging.getLogger("torchon.search")


@dataclass
class StageSpec:
    """A stage: its unbuilt tree, where that is in the config, its dimensions and the stages it links to."""

    name: str
    node: Any
    path: list[Any]
    base: str
    dims: list[Dimension]
    options: SearchOptions
    deps: list[str] = field(default_factory=list)
    keep: int | None = 1  # how many variants' outputs must be kept as bundles (None: all)
    folder: str = ""  # under the run's output folder


class _Lane:
    """One Optuna study: a stage's trials for one combination of its inputs."""

    def __init__(self, stage: StageSpec, inputs: dict[str, TrialRecord], seed: int | None) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        opts = stage.options
        self.stage = stage
        self.inputs = inputs
        algorithm = opts.algorithm or "random"
        samplers = {
            "grid": lambda: optuna.samplers.RandomSampler(seed=seed),
            "random": lambda: optuna.samplers.RandomSampler(seed=seed),
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
            "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
        }
        self.study = optuna.create_study(
            direction="minimize" if opts.mode == "min" else "maximize",
            sampler=samplers[algorithm](),
            pruner=_pruner(opts.pruner),
        )
        kinds = ("grid", "choice") if algorithm == "grid" else ("grid",)
        dims = stage.dims if algorithm == "grid" else [d for d in stage.dims if d.parent is None]
        points = grid_points(dims, kinds)
        samples = opts.num_samples or (1 if algorithm == "grid" or not stage.dims else 10)
        for _ in range(samples):
            for point in points:
                if point:
                    self.study.enqueue_trial(point, skip_if_exists=False)
        self.budget = samples * len(points)
        self.asked = 0
        self.seen: dict[str, int] = {}


@dataclass
class _StageRun:
    """A stage while its trials run: lanes still to ask, its concurrency limit, failures so far."""

    stage: StageSpec
    pending: list[_Lane]
    limit: int | None
    failures: int = 0
    stopping: str | None = None  # why the stage stops (max_failures passed): no more trials start

    def holding(self, running: Mapping[str, tuple[Any, ...]], released: set[str]) -> int:
        """How many of the stage's trials hold a slot (running, not released)."""
        return sum(
            1 for key, entry in running.items() if entry[2].stage is self.stage and key not in released
        )

    def idle(self, running: Mapping[str, tuple[Any, ...]]) -> bool:
        """Nothing left to start (or stopping) and nothing of it running."""
        if self.pending and self.stopping is None:
            return False
        return not any(entry[2].stage is self.stage for entry in running.values())


def _pruner(spec: Any) -> Any:
    import optuna

    if spec is None or spec == "none":
        return optuna.pruners.NopPruner()
    options: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        options = dict(spec)
        spec = options.pop("type", None)
    cls = getattr(optuna.pruners, PRUNERS[str(spec)])
    try:
        return cls(**options)
    except TypeError as exc:
        raise RunFailed(f"pruner {spec}: {exc}") from None


class Driver:
    """Runs the stages of a search or an experiment on one executor."""

    def __init__(
        self,
        config: Any,
        stages: list[StageSpec],
        output_dir: Path,
        *,
        max_concurrent: int | None = None,
        executor: str = "local",
        display: Any = None,
    ) -> None:
        self.config = config
        self.stages = {s.name: s for s in stages}
        self.out = output_dir
        self.records: dict[str, list[TrialRecord]] = {s.name: [] for s in stages}
        self.survivors: dict[str, list[TrialRecord]] = {}
        self.executor_name = executor
        self.max_concurrent = max_concurrent
        self.display = display
        self._executor: Executor | None = None
        self._running: dict[str, tuple[TrialRecord, Any, _Lane, dict[str, Any]]] = {}
        self._released: set[str] = set()  # running, but done with their work: not counted against concurrency
        self._active: dict[str, _StageRun] = {}  # stages whose trials are running, by name
        self._resources: dict[str, dict[str, Any]] = {}  # what each stage's trials hold, by stage name
        self._number = 0

    # -- the executor --------------------------------------------------------------------------------------

    def _worker(self) -> WorkerSpec:
        config_path = Path(self.config.filename).resolve()
        return WorkerSpec(
            prepare="torchon_search.trial:prepare",
            run="torchon_search.trial:run_trial",
            prepare_args={
                "config_path": str(config_path),
                "config_text": self.config.text,
                "overrides": list(self.config.overrides),  # trials build what the driver ran
                "stages": {n: {"path": s.path, "base": s.base} for n, s in self.stages.items()},
            },
            session=session.capture(),
        )

    def _start_executor(self) -> Executor:
        from torchon.api import get_manager

        executors = get_manager().table("executors")
        entry = executors.get(self.executor_name)
        if entry is None:
            raise RunFailed(
                f"executor {self.executor_name!r} is not registered (known: {', '.join(executors.names())})"
            )
        cls = entry.load()
        # no limit of the run's own and a stage without one: as many as the executor's resources allow (a Ray
        # cluster's CPUs, not the driver machine's)
        limits = [s.options.max_concurrent for s in self.stages.values()]
        concurrency = self.max_concurrent
        if concurrency is None and limits and all(x is not None for x in limits):
            concurrency = max(x for x in limits if x is not None)
        executor: Executor = cls(self._worker(), max_concurrent=concurrency)
        executor.start()
        return executor

    # -- running -------------------------------------------------------------------------------------------

    def run(self, order: list[str], reduce: Mapping[str, int] | None = None) -> None:
        """Run the stages of ``order``, each as soon as the stages it links to are done: stages that do not
        depend on each other run at the same time, their trials sharing the executor (its ``max_concurrent`` and
        resources), each stage within its own ``max_concurrent``."""
        reduce = dict(reduce or {})
        done: set[str] = set()
        try:
            while len(done) < len(order):
                for name in order:
                    stage = self.stages[name]
                    if name not in done and name not in self._active and all(d in done for d in stage.deps):
                        self._active[name] = self._start_stage(stage)
                executor = self._executor
                if executor is None or not self._active:  # stages left, none can start: links outside `order`
                    waiting = [n for n in order if n not in done]
                    raise RunFailed(f"stages {', '.join(waiting)} wait on stages that are not run")
                self._submit(executor)
                finished = [r for r in self._active.values() if r.idle(self._running)]
                for run in finished:
                    del self._active[run.stage.name]
                    self._finish_stage(run, reduce.get(run.stage.name))
                    done.add(run.stage.name)
                if finished:
                    continue  # what depends on them may start now
                for event in executor.poll(0.25):
                    self._dispatch(event, executor)
        except BaseException:
            if self._executor is not None:
                for task_id in list(self._running):
                    self._executor.cancel(task_id)
            raise
        finally:
            if self._executor is not None:
                self._executor.close()
                self._executor = None

    def _start_stage(self, stage: StageSpec) -> _StageRun:
        opts = stage.options
        combos = self._input_combos(stage)
        lanes = [
            _Lane(stage, combo, None if opts.seed is None else opts.seed + i)
            for i, combo in enumerate(combos)
        ]
        if self.display is not None:
            self.display.stage(stage.name, sum(lane.budget for lane in lanes), opts.metric, opts.mode)
        if self._executor is None:
            self._executor = self._start_executor()
        why = self._executor.fits(self.resources(stage))
        if why:
            raise RunFailed(f"stage {stage.name}: {why}; lower its resources")
        return _StageRun(stage, list(lanes), opts.max_concurrent or self._executor.max_concurrent)

    def resources(self, stage: StageSpec) -> dict[str, Any]:
        """What each trial of ``stage`` holds: the stage's ``resources``, and ``workers`` (what each of its
        processes holds) when the trial's runnable trains on processes of its own that the executor places, such
        as a Trainer on Ray Train, so they are counted before the trial starts (the runnable's class says, by a
        ``trial_workers(arguments, executor)`` class method)."""
        if stage.name not in self._resources:
            resources: dict[str, Any] = dict(stage.options.resources)
            ask = getattr(getattr(stage.node, "target", None), "trial_workers", None)
            if callable(ask):
                try:
                    workers = ask(dict(getattr(stage.node, "kwargs", {})), self.executor_name)
                except (TypeError, ValueError) as exc:
                    raise RunFailed(f"stage {stage.name}: {exc}") from None
                if workers:
                    resources["workers"] = [dict(w) for w in workers]
            self._resources[stage.name] = resources
        return self._resources[stage.name]

    def _submit(self, executor: Executor) -> None:
        """Start trials while they fit, taking turns between the running stages (and each stage's lanes)."""
        started = True
        while started:
            started = False
            for run in list(self._active.values()):
                resources = self.resources(run.stage)
                if run.stopping is not None or not run.pending:
                    continue
                if run.limit is not None and run.holding(self._running, self._released) >= run.limit:
                    continue
                if not executor.can_start(resources):
                    continue
                lane = run.pending[0]
                if lane.asked >= lane.budget:
                    run.pending.pop(0)
                    started = True
                    continue
                lane.asked += 1
                run.pending.append(run.pending.pop(0))
                self._ask(run.stage, lane, executor)
                started = True
        if self.display is not None:
            for run in self._active.values():
                self.display.refresh(run.stage.name, self.records[run.stage.name])

    def _dispatch(self, event: TaskEvent, executor: Executor) -> None:
        """Hand an event to the stage of its trial; count failures, and stop the stage past ``max_failures``."""
        entry = self._running.get(event.task_id)
        if entry is None:
            return
        stage = entry[2].stage
        failed = self._on_event(stage, event, executor)
        run = self._active.get(stage.name)
        if not failed or run is None:
            return
        run.failures += 1
        limit = stage.options.max_failures
        if limit is not None and run.failures > limit and run.stopping is None:
            run.stopping = f"{run.failures} trials failed, more than max_failures={limit}"
            for task_id, other in list(self._running.items()):
                if other[2].stage is stage:
                    executor.cancel(task_id)

    def _finish_stage(self, run: _StageRun, keep_best: int | None) -> None:
        """The stage's trials are all done: fail on what failed, else rank them and keep its survivors' outputs."""
        stage = run.stage
        name = stage.name
        records = self.records[name]
        if self.display is not None:
            self.display.refresh(name, records, final=True)
        if run.stopping is not None:
            raise RunFailed(f"stage {name}: {run.stopping} ({first_error(records)})")
        if records and not [r for r in records if r.status in FINISHED]:
            raise RunFailed(f"every trial of stage {name} failed ({len(records)}): {first_error(records)}")
        ranked = rank(records, stage.options.mode) if stage.options.metric else []
        if keep_best is not None:
            if keep_best > len(ranked):
                logger.warning(
                    "reduce: stage %s keeps the best %d, but only %d of its variants completed; all %d go on",
                    name,
                    keep_best,
                    len(ranked),
                    len(ranked),
                )
            survivors = ranked[:keep_best]
        else:
            survivors = ranked if stage.options.metric else [r for r in records if r.status == "completed"]
        self._ensure_saved(stage, survivors if stage.keep is None else survivors[: stage.keep])
        self.survivors[name] = survivors
        self._write_table(stage)

    def _input_combos(self, stage: StageSpec) -> list[dict[str, TrialRecord]]:
        """Combinations of the deps' surviving variants that agree on the variants of shared ancestors."""
        combos: list[dict[str, TrialRecord]] = [{}]
        for dep in stage.deps:
            survivors = self.survivors.get(dep, [])
            if not survivors:
                raise RunFailed(f"stage {stage.name} needs stage {dep}, but no variant of {dep} completed")
            combos = [{**c, dep: r} for c in combos for r in survivors]

        def consistent(combo: dict[str, TrialRecord]) -> bool:
            seen: dict[str, str] = {}
            for name, rec in combo.items():
                for anc, key in {**rec.inputs, name: rec.key}.items():
                    if seen.setdefault(anc, key) != key:
                        return False
            return True

        return [c for c in combos if consistent(c)]

    def _ask(self, stage: StageSpec, lane: _Lane, executor: Executor) -> None:
        from torchon_search.variant import variant_key

        trial = lane.study.ask()
        assignment = suggest(trial, stage.dims)
        inputs = {name: rec.key for name, rec in lane.inputs.items()}
        base = variant_key(stage.node, stage.dims, assignment, inputs)
        repeat = lane.seen.get(base, 0)
        lane.seen[base] = repeat + 1
        key = base if repeat == 0 else variant_key(stage.node, stage.dims, assignment, inputs, repeat)
        folder = self.out / stage.folder / "trials" / key
        record = TrialRecord(
            stage.name,
            self._number,
            key,
            assignment,
            describe(stage.dims, assignment),
            inputs,
            str(folder),
        )
        self._number += 1
        self.records[stage.name].append(record)
        previous = TrialRecord.load(folder)
        if previous is not None and previous.status in FINISHED:
            record.__dict__.update(
                {k: v for k, v in previous.__dict__.items() if k not in ("number", "params")}
            )
            record.cached = True
            self._replay(trial, lane, record)
            self._tell(stage, record, "started")
            self._tell(stage, record, "finished")
            return
        folder.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {
            "stage": stage.name,
            "assignment": assignment,
            "inputs": {name: str(rec.output) for name, rec in lane.inputs.items()},
            "dir": str(folder),
            "sync": stage.options.pruner not in (None, "none"),
            "checkpoint_every": stage.options.checkpoint_every,
        }
        resume = read_resume(folder)
        if resume is not None:
            payload.update(resume_from=str(resume.checkpoint), start_step=resume.step)
            record.history = resume.history
            record.steps = resume.step
            metric = stage.options.metric
            for entry in record.history:
                if metric in entry["metrics"]:
                    trial.report(float(entry["metrics"][metric]), entry["step"])
        record.status = "running"
        record.seconds = time.time()
        self._running[key] = (record, trial, lane, payload)
        executor.submit(Task(key, payload, self.resources(stage), log=str(folder / "trial.log")))
        self._tell(stage, record, "started")

    def _replay(self, trial: Any, lane: _Lane, record: TrialRecord) -> None:
        """Tell the study a finished trial from an earlier run, as if it had just run."""
        import optuna

        metric = lane.stage.options.metric
        for entry in record.history:
            if metric in entry["metrics"]:
                trial.report(float(entry["metrics"][metric]), int(entry["step"]))
        if record.status == "completed" and record.value is not None:
            lane.study.tell(trial, record.value)
        elif record.status == "completed" and metric is None:
            lane.study.tell(trial, 0.0)
        else:
            lane.study.tell(trial, state=optuna.trial.TrialState.PRUNED)

    def _on_event(self, stage: StageSpec, event: TaskEvent, executor: Executor) -> bool:
        """Handle one event; True when it ends a trial as failed."""
        import optuna

        entry = self._running.get(event.task_id)
        if entry is None:
            return False
        record, trial, lane, payload = entry
        metric = stage.options.metric
        data = event.data
        if event.kind == "message":
            kind = data.get("type")
            if kind == "step":
                metrics = dict(data.get("metrics") or {})
                record.steps = int(data["step"])
                record.metrics = metrics
                record.history.append({"step": record.steps, "metrics": metrics})
                if not payload.get("force_save"):
                    self._tell(stage, record, "reported", record.steps, metrics)
                if metric and metric in metrics:
                    trial.report(float(metrics[metric]), record.steps)
                if payload.get("sync"):
                    stop = bool(metric in metrics and trial.should_prune()) if metric else False
                    executor.send(event.task_id, {"action": "stop" if stop else "continue"})
            elif kind == "done":
                return self._on_done(stage, record, trial, lane, payload, data, executor, event.task_id)
            elif kind == "saved":
                record.saved = True
            elif kind == "save_failed":
                record.saved = False
                record.error = f"saving its output failed: {data.get('error')}"
            return False
        # the task ended
        self._running.pop(event.task_id, None)
        self._released.discard(event.task_id)
        record.seconds = round(time.time() - record.seconds, 3)
        failed = False
        if payload.get("_done"):  # finished its work: told to the study already; what failed after is noted
            if not data.get("ok"):
                record.error = f"after finishing: {data.get('error') or 'ended badly'}"
        else:
            record.status, failed = "failed", True
            record.error = data.get("error") or "ended before finishing"
            if data.get("traceback"):
                record.save_traceback(str(data["traceback"]))
            lane.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        record.save()
        if not payload.get("force_save"):
            self._tell(stage, record, "finished")
        if failed:
            logger.warning("trial %d (%s) failed: %s", record.number, record.key, record.error)
        return failed

    def _tell(self, stage: StageSpec, record: TrialRecord, event: str, *args: Any) -> None:
        """Tell plugins a trial ``started`` (with the steps it reported before, when cached or resumed),
        ``reported`` a step, or ``finished`` (``torchon_search.hooks``: MLflow tracking and the like)."""
        # an experiment's stages have folders of their own; a search's one stage has not
        info = hooks.TrialInfo(
            record.number,
            record.key,
            dict(record.params),
            Path(record.dir),
            stage=stage.name if stage.folder else None,
            metric=stage.options.metric,
            mode=stage.options.mode,
            status=record.status,
            value=record.value,
            metrics=dict(record.metrics),
            steps=record.steps,
            error=record.error,
            cached=record.cached,
        )
        if event == "started":
            hooks.trial_started(info)
            for entry in record.history:
                hooks.trial_reported(info, int(entry["step"]), dict(entry["metrics"]))
        elif event == "reported":
            hooks.trial_reported(info, *args)
        else:
            hooks.trial_finished(info)

    def _on_done(
        self,
        stage: StageSpec,
        record: TrialRecord,
        trial: Any,
        lane: _Lane,
        payload: dict[str, Any],
        data: Mapping[str, Any],
        executor: Executor,
        task_id: str,
    ) -> bool:
        """The trial's work is done: tell the study now (what follows, saving and teardown, changes nothing it
        knows), say whether to save, and let the next trial start while this one finishes."""
        import optuna

        metric = stage.options.metric
        payload["_done"] = True
        record.metrics = dict(data.get("metrics") or {})
        record.steps = int(data.get("steps", record.steps))
        if metric and metric in record.metrics:
            record.value = float(record.metrics[metric])
        failed = False
        if data.get("pruned"):
            record.status = "pruned"
            lane.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif metric and record.value is None:
            reported = ", ".join(sorted(record.metrics)) or "nothing"
            record.status, failed = "failed", True
            record.error = f"never reported metric {metric!r} (it reported: {reported})"
            lane.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            logger.warning("trial %d (%s) failed: %s", record.number, record.key, record.error)
        else:
            record.status = "completed"
            lane.study.tell(trial, record.value if record.value is not None else 0.0)
        executor.send(task_id, {"save": self._should_save(stage, record, payload)})
        executor.release(task_id)
        self._released.add(task_id)
        return failed

    def _should_save(self, stage: StageSpec, record: TrialRecord, payload: Mapping[str, Any]) -> bool:
        if record.status == "pruned" or (stage.options.metric and record.value is None):
            return False
        if payload.get("force_save") or stage.options.save == "all" or stage.keep is None:
            return True
        if stage.options.save == "none" and stage.keep <= 0:
            return False
        if not stage.options.metric:
            return True
        assert record.value is not None
        ahead = sum(
            1
            for r in self.records[stage.name]
            if r is not record
            and r.status == "completed"
            and r.value is not None
            and better(r.value, record.value, stage.options.mode)
        )
        return ahead < stage.keep

    def _ensure_saved(self, stage: StageSpec, survivors: list[TrialRecord]) -> None:
        """Survivors whose output was not kept (it did not rank when it finished, in an earlier run) run again."""
        missing = [r for r in survivors if not (r.output / "manifest.json").is_file()]
        if not missing:
            return
        executor = self._executor or self._start_executor()
        self._executor = executor
        for record in missing:
            if record.error and record.error.startswith("saving its output failed"):
                raise RunFailed(f"stage {stage.name}: trial {record.number} ({record.key}): {record.error}")
            lane = _Lane(stage, {n: self._find(n, k) for n, k in record.inputs.items()}, None)
            trial = lane.study.ask()  # a study of its own: this run only saves, it is not told to the search
            payload = {
                "stage": stage.name,
                "assignment": record.assignment,
                "inputs": {n: str(self._find(n, k).output) for n, k in record.inputs.items()},
                "dir": record.dir,
                "sync": False,
                "force_save": True,
            }
            (Path(record.dir) / "metrics.jsonl").unlink(missing_ok=True)
            rerun = TrialRecord(
                **{**record.to_json(), "history": [], "status": "running", "seconds": time.time()}
            )
            self._running[record.key] = (rerun, trial, lane, payload)
            executor.submit(
                Task(
                    record.key,
                    payload,
                    self.resources(stage),
                    log=str(Path(record.dir) / "trial.log"),
                )
            )
            while record.key in self._running:  # other stages' trials may be running too: theirs go to them
                for event in executor.poll(0.25):
                    if event.task_id == record.key:
                        self._on_event(stage, event, executor)
                    else:
                        self._dispatch(event, executor)
            if not rerun.saved:
                raise RunFailed(
                    f"stage {stage.name}: trial {record.number} ({record.key}) ran again to save its output, "
                    f"and failed: {rerun.error}"
                )
            record.saved = True
            record.save()

    def _find(self, stage: str, key: str) -> TrialRecord:
        for record in self.records[stage]:
            if record.key == key:
                return record
        raise KeyError(f"{stage}/{key}")

    # -- results -------------------------------------------------------------------------------------------

    def _write_table(self, stage: StageSpec) -> None:
        folder = self.out / stage.folder
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(folder / "results.csv", self.records[stage.name], stage.options.metric)

    def export_best(self, stage: str, dest: Path) -> TrialRecord | None:
        """Copy the best variant's bundle of ``stage`` to ``dest`` (replacing what was there)."""
        survivors = self.survivors.get(stage) or []
        if not survivors or not (survivors[0].output / "manifest.json").is_file():
            return None
        best = survivors[0]
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(best.output, tmp)
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        if dest.exists():
            os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
        return best
