"""What runs in a worker: one trial of a search, from building its variant to saving its output.

:func:`prepare` runs once per worker process: it loads the config as run, finds the trial's unbuilt tree, and
readies saving (imports, the installed distributions), so that the trials forked from that process need not.
:func:`run_trial` runs once per trial, in a process of its own: builds the variant (loading upstream stages'
bundles for links to them), calls ``setup``, then ``step()`` until the runnable is done, sending each step's
metrics to the driver (and, with a pruner, waiting for its word to go on), checkpoints between steps when asked,
then sends the final metrics and saves the runnable as a bundle if the driver asks for it (the best trials).

Messages to the driver: ``{"type": "step", "step", "metrics"}``, ``{"type": "done", "steps", "metrics",
"pruned"}``, ``{"type": "saved"}`` or ``{"type": "save_failed", "error"}``. From the driver: ``{"action":
"continue" | "stop"}`` after a step (only when ``sync``), ``{"save": bool}`` after done.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchon.api import Component

__all__ = ["WarmUp", "prepare", "run_trial"]


@contextlib.contextmanager
def _cwd(path: Path) -> Any:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class WarmUp(Component):
    """A throwaway component, saved and loaded once by :func:`prepare`."""


def _warm_up_saving() -> None:
    """Save and load a throwaway bundle, so that what saving and loading import and cache on first use (~100 ms)
    is ready in this process before trials are forked from it, instead of paid again by every trial that saves."""
    import tempfile

    import torchon

    with tempfile.TemporaryDirectory(prefix="torchon-warm-up-") as tmp:
        torchon.save(WarmUp(), Path(tmp) / "bundle")
        torchon.load(Path(tmp) / "bundle")


def prepare(args: Mapping[str, Any]) -> dict[str, Any]:
    """Load the config (as the driver ran it) and index what trials need from it."""
    import importlib

    from torchon.api import load_config

    # imported here, once, rather than in every forked trial
    for module in ("torchon.bundle.load", "torchon.bundle.save", "torchon.metrics", "torchon_search.variant"):
        importlib.import_module(module)
    # A bundle's manifest names the distribution of every class in it, found from every installed distribution's
    # file list (~100 ms to read): read here, once (the local executor hands over the driver's), so that every
    # forked trial inherits it instead of reading them again when it saves.
    from torchon.api import module_distributions

    module_distributions()
    _warm_up_saving()

    from torchon_search.space import find_dimensions
    from torchon_search.variant import follow, node_index

    config_path = Path(args["config_path"])
    with _cwd(config_path.parent):  # relative extension paths start at the config's folder, as for the driver
        config = load_config(str(config_path), text=args["config_text"], overrides=args.get("overrides", ()))
    stages: dict[str, Any] = {}
    for name, spec in args["stages"].items():
        node = follow(config.root, spec["path"])
        stages[name] = {"node": node, "dims": find_dimensions(node, spec.get("base", "")), "index": None}
    for name in stages:
        stages[name]["index"] = node_index(stages[name]["node"])
    return {"config": config, "stages": stages}


def _components(obj: Any) -> list[Any]:
    """The components of a built tree, dependencies first (what ``setup`` is called on)."""
    from torchon.api import Component

    out: list[Any] = []
    seen: set[int] = set()

    def walk(value: Any) -> None:
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, Component):
            for v in value.get_config().values():
                walk(v)
            out.append(value)
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk(obj)
    return out


def _build(prepared: dict[str, Any], payload: Mapping[str, Any]) -> Any:
    import torchon
    from torchon.api import load
    from torchon_search.variant import VariantBuilder

    stage = prepared["stages"][payload["stage"]]
    by_name = {d.name: d for d in stage["dims"]}
    chosen = {id(by_name[n].node): v for n, v in payload["assignment"].items() if n in by_name}
    upstream: dict[int, tuple[str, Any]] = {}
    for name in payload.get("inputs", {}):
        for node_id, (_, path) in prepared["stages"][name]["index"].items():
            upstream[node_id] = (name, path)
    loaded: dict[str, Any] = {}

    def load_stage(name: str) -> Any:
        if name not in loaded:
            loaded[name] = load(payload["inputs"][name], trust=True)  # bundles this run saved
        return loaded[name]

    if payload.get("resume_from"):
        return load(payload["resume_from"], trust=True), True
    builder = VariantBuilder(prepared["config"], chosen, upstream, load_stage)
    try:
        return builder.build(stage["node"]), False
    except torchon.ConfigError as exc:
        raise RuntimeError(exc.format() if hasattr(exc, "format") else str(exc)) from None


def _checkpoint(obj: Any, folder: Path, step: int) -> None:
    import torchon

    torchon.save(obj, folder / "checkpoint")
    tmp = folder / "checkpoint.json.tmp"
    tmp.write_text(json.dumps({"step": step}))
    os.replace(tmp, folder / "checkpoint.json")


def run_trial(prepared: dict[str, Any], payload: Mapping[str, Any], channel: Any) -> None:
    import torchon
    from torchon.api import Context, Runnable, get_env, session, set_env
    from torchon.api import metrics as metrics_module

    folder = Path(payload["dir"])
    folder.mkdir(parents=True, exist_ok=True)
    env = get_env().replace(output_dir=str(folder))
    set_env(env)
    metrics_module.start_recording(folder / "metrics.jsonl")
    obj, resumed = _build(prepared, payload)
    step = int(payload.get("start_step", 0))
    components = _components(obj)
    sync = bool(payload.get("sync"))
    every = int(payload.get("checkpoint_every") or 0)
    pruned = False
    context = Context(env=env, output_dir=folder, resume=resumed)
    try:
        # set up in order, torn down in reverse with failures logged, as in a run (torchon.session.running)
        with session.running(components, context):
            if isinstance(obj, Runnable) and obj.is_searchable():
                more = True
                previous: dict[str, float] | None = None
                while more:
                    more = bool(obj.step())
                    latest = obj.latest_metrics
                    if not more and latest == previous:
                        break  # a last step() that only said "no more" (a script's exit) is not a step
                    previous = latest
                    step += 1
                    channel.send({"type": "step", "step": step, "metrics": latest})
                    if sync and more:
                        reply = channel.recv()
                        if reply and reply.get("action") == "stop":
                            pruned = True
                            break
                    if every and more and step % every == 0:
                        _checkpoint(obj, folder, step)
            elif callable(getattr(obj, "run", None)):
                obj.run()
                step += 1
                latest = obj.latest_metrics if isinstance(obj, Runnable) else {}
                if latest:
                    channel.send({"type": "step", "step": step, "metrics": latest})
            latest = obj.latest_metrics if isinstance(obj, Runnable) else {}
            channel.send({"type": "done", "steps": step, "metrics": latest, "pruned": pruned})
            reply = channel.recv()
            if reply and reply.get("save"):
                try:
                    torchon.save(obj, folder / "output")
                    channel.send({"type": "saved"})
                except Exception as exc:
                    channel.send({"type": "save_failed", "error": f"{type(exc).__name__}: {exc}"})
    finally:
        metrics_module.stop_recording()
