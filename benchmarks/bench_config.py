"""Loading and building a config of 2,000 objects: torchon against Hydra (OmegaConf.load + hydra.utils.instantiate).

Figures: ``config-2000-objects`` (below) and ``config-2000-objects-overrides``: the same torchon config loaded and
built with 20 command-line overrides (``torchon run CONFIG items[7].a=... +... ~...``) against without them, so that
overrides cost nothing worth noticing. Goal: ratio <= 1.05.

Both sides read a YAML file from disk (parsing included) and end with the same objects: a ``Group`` holding 2,000
``Leaf`` objects, plain classes of a package generated in a temporary folder. torchon's config declares that package
as a local-path extension in its header and tags the objects ``!benchext.Leaf``; Hydra's names them with
``_target_: benchext.Leaf`` and is instantiated with ``_convert_="all"`` so that both hand plain lists to the
classes. Rounds alternate between the two after a warm-up, in one process; the figure is the ratio of medians.
Goal: torchon takes at most a quarter of Hydra's time.

Run: ``python benchmarks/bench_config.py [--objects 2000] [--rounds 5]``. Needs hydra-core
(benchmarks/requirements.txt). Exits 0 whatever the result.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Plugin autoload off: only torchon's built-in plugins (which provide the local-path extension resolver) and
# torchon-overrides (for the overrides figure, loaded in main()) load, so whichever other plugins happen to be
# installed do not change the figure. The manager is built once per process anyway.
os.environ["TORCHON_DISABLE_PLUGIN_AUTOLOAD"] = "1"

GOAL = 0.25
OVERRIDES_GOAL = 1.05
EXT = "benchext"

EXT_SOURCE = textwrap.dedent(
    '''
    """Plain classes (no torchon, no Hydra) for bench_config.py."""


    class Leaf:
        def __init__(self, a: int, b: float, name: str, tags: list) -> None:
            self.a = a
            self.b = b
            self.name = name
            self.tags = tags


    class Group:
        def __init__(self, items: list) -> None:
            self.items = items
    '''
)


def leaf_values(i: int) -> tuple[int, float, str, list[str]]:
    return i, i * 0.5 + 0.25, f"n{i}", [f"t{i % 7}", f"u{i % 11}"]


def write_files(folder: Path, count: int) -> tuple[Path, Path]:
    """The extension package, and the two configs naming the same objects in each tool's format."""
    package = folder / EXT
    package.mkdir()
    (package / "__init__.py").write_text(EXT_SOURCE, encoding="utf-8")

    torchon_lines = [f"{EXT}: {package}", "---", f"!{EXT}.Group", "items:"]
    hydra_lines = [f"_target_: {EXT}.Group", "items:"]
    for i in range(count):
        a, b, name, tags = leaf_values(i)
        fields = f"a: {a}, b: {b!r}, name: {name}, tags: [{', '.join(tags)}]"
        torchon_lines.append(f"  - !{EXT}.Leaf {{{fields}}}")
        hydra_lines.append(f"  - {{_target_: {EXT}.Leaf, {fields}}}")
    torchon_path = folder / "torchon.yaml"
    hydra_path = folder / "hydra.yaml"
    torchon_path.write_text("\n".join(torchon_lines) + "\n", encoding="utf-8")
    hydra_path.write_text("\n".join(hydra_lines) + "\n", encoding="utf-8")
    return torchon_path, hydra_path


def run_torchon(path: Path) -> Any:
    from torchon.config import load_config

    return load_config(path).build().root


def run_hydra(path: Path) -> Any:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    return instantiate(OmegaConf.load(path), _convert_="all")


def overrides_for(count: int) -> tuple[list[str], dict[int, tuple[Any, ...]]]:
    """20 overrides of every form spread over the config, and the leaf values they make (by index)."""
    overrides: list[str] = []
    changed: dict[int, tuple[Any, ...]] = {}
    for k in range(20):
        i = (k * 97 + 5) % count
        a, b, name, tags = leaf_values(i)
        if k % 4 == 0:
            overrides.append(f"items[{i}].a={a + 1000}")
            changed[i] = (a + 1000, b, name, tags)
        elif k % 4 == 1:
            overrides.append(f"items[{i}].name='x{i}'")
            changed[i] = (a, b, f"x{i}", tags)
        elif k % 4 == 2:
            overrides.append(f"items[{i}].tags=[p, q]")
            changed[i] = (a, b, name, ["p", "q"])
        else:
            overrides.append(f"items[{i}]=!{EXT}.Leaf {{a: 1, b: 2.5, name: w, tags: []}}")
            changed[i] = (1, 2.5, "w", [])
    return overrides, changed


def run_torchon_overrides(path: Path, overrides: list[str]) -> Any:
    from torchon.config import load_config

    return load_config(path, overrides=overrides).build().root


def bench_overrides(torchon_path: Path, count: int, rounds: int) -> None:
    """``config-N-objects-overrides``: load+build with 20 overrides against without, alternating rounds."""
    overrides, changed = overrides_for(count)
    expected = [changed.get(i, leaf_values(i)) for i in range(count)]
    assert contents(run_torchon_overrides(torchon_path, overrides)) == expected, (
        "the overrides built other values"
    )
    runners = {
        "overrides": lambda: run_torchon_overrides(torchon_path, overrides),
        "plain": lambda: run_torchon(torchon_path),
    }
    med = {side: statistics.median(v) for side, v in alternate(runners, rounds, count).items()}
    print(
        f"BENCH config-{count}-objects-overrides: ratio={med['overrides'] / med['plain']:.3f} "
        f"goal=<={OVERRIDES_GOAL} torchon={med['overrides']:.3f}s anchor={med['plain']:.3f}s "
        f"(load_config+build with {len(overrides)} overrides of the config vs without; median of {rounds})"
    )


def contents(group: Any) -> list[tuple[Any, ...]]:
    assert type(group).__name__ == "Group", type(group)
    assert type(group.items) is list, type(group.items)
    out = []
    for leaf in group.items:
        assert type(leaf).__name__ == "Leaf" and type(leaf).__module__ == EXT, type(leaf)
        assert type(leaf.tags) is list, type(leaf.tags)
        out.append((leaf.a, leaf.b, leaf.name, list(leaf.tags)))
    return out


def alternate(runners: dict[str, Callable[[], Any]], rounds: int, count: int) -> dict[str, list[float]]:
    """Each runner's times over ``rounds`` rounds, the order of the two reversed every other round."""
    times: dict[str, list[float]] = {side: [] for side in runners}
    first, second = list(runners)
    for r in range(rounds):
        for side in (first, second) if r % 2 == 0 else (second, first):
            elapsed, result = timed(runners[side])
            assert len(result.items) == count
            del result
            times[side].append(elapsed)
    return times


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def breakdown(torchon_path: Path, hydra_path: Path, rounds: int) -> None:
    """Medians of each stage of each side, in separate (non-BENCH) lines. Uses torchon's internal stages."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from torchon.config import load_config
    from torchon.config.resolve import Resolver
    from torchon.config.validate import validate
    from torchon.config.yaml_loader import parse_documents
    from torchon.plugins import get_manager

    text = torchon_path.read_text(encoding="utf-8")
    manager = get_manager()
    stages: dict[str, list[float]] = {
        k: []
        for k in ("parse", "resolve", "validate", "load_config", "build", "omegaconf.load", "instantiate")
    }
    for _ in range(rounds):
        # one stage's leftovers are dropped before the next is timed, so the collector has the same work
        t, cfg = timed(lambda: load_config(torchon_path))
        stages["load_config"].append(t)
        t, built = timed(lambda cfg=cfg: cfg.build())
        stages["build"].append(t)
        del cfg, built
        t, docs = timed(lambda: parse_documents(text, str(torchon_path)))
        stages["parse"].append(t)
        root = docs[-1]
        t, _ = timed(lambda root=root: Resolver(manager, [EXT]).resolve(root))
        stages["resolve"].append(t)
        t, _ = timed(lambda root=root: validate(root))
        stages["validate"].append(t)
        del docs, root
        t, ocfg = timed(lambda: OmegaConf.load(hydra_path))
        stages["omegaconf.load"].append(t)
        t, built = timed(lambda ocfg=ocfg: instantiate(ocfg, _convert_="all"))
        stages["instantiate"].append(t)
        del ocfg, built
    med = {k: statistics.median(v) * 1000 for k, v in stages.items()}
    stages_sum = med["parse"] + med["resolve"] + med["validate"]
    print(
        f"torchon stages (median ms): parse={med['parse']:.1f} resolve={med['resolve']:.1f} "
        f"validate={med['validate']:.1f} (together {stages_sum:.1f}; load_config, which also reads the header and "
        f"extensions, {med['load_config']:.1f}) build={med['build']:.1f}"
    )
    print(
        f"hydra stages (median ms): OmegaConf.load={med['omegaconf.load']:.1f} instantiate={med['instantiate']:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000, help="leaf objects in the config (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of each side (default 5)")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the per-stage timings")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="torchon-bench-config-") as tmp:
        folder = Path(tmp)
        torchon_path, hydra_path = write_files(folder, opts.objects)
        sys.path.insert(0, str(folder))  # Hydra imports benchext by name; torchon finds it through the header
        try:
            import hydra
            import omegaconf

            import torchon
            from torchon.api import PluginManager, set_manager

            set_manager(PluginManager.from_options(["overrides"], autoload=False))
            # warm-up: imports, plugin manager, caches on both sides; and check both build the same objects
            expected = [leaf_values(i) for i in range(opts.objects)]
            built_torchon = contents(run_torchon(torchon_path))
            built_hydra = contents(run_hydra(hydra_path))
            assert built_torchon == [(a, b, n, t) for a, b, n, t in expected], "torchon built other values"
            assert built_hydra == built_torchon, "hydra and torchon built different objects"
            assert len(built_torchon) == opts.objects
            del built_torchon, built_hydra

            runners = {"torchon": lambda: run_torchon(torchon_path), "hydra": lambda: run_hydra(hydra_path)}
            times = alternate(runners, opts.rounds, opts.objects)
            med = {side: statistics.median(v) for side, v in times.items()}
            print(
                f"{opts.objects} leaves in one container; torchon {torchon.__version__}, "
                f"hydra-core {hydra.__version__}, omegaconf {omegaconf.__version__}, python {sys.version.split()[0]}"
            )
            print(
                f"config sizes: torchon {torchon_path.stat().st_size} bytes, hydra {hydra_path.stat().st_size} bytes; "
                f"{opts.rounds} alternating rounds after one warm-up, TORCHON_DISABLE_PLUGIN_AUTOLOAD=1"
            )
            for side, values in times.items():
                print(f"  {side:8s} " + " ".join(f"{v * 1000:.0f}ms" for v in values))
            if not opts.no_breakdown:
                try:  # uses torchon's internal stages, which may change: never let it cost the BENCH line
                    breakdown(torchon_path, hydra_path, max(3, opts.rounds // 2))
                except Exception as exc:
                    print(f"stage breakdown unavailable: {type(exc).__name__}: {exc}")
            bench_overrides(torchon_path, opts.objects, max(9, opts.rounds * 2))
            ratio = med["torchon"] / med["hydra"]
            print(
                f"BENCH config-{opts.objects}-objects: ratio={ratio:.3f} goal=<={GOAL} "
                f"torchon={med['torchon']:.3f}s anchor={med['hydra']:.3f}s "
                "(torchon load_config+build vs OmegaConf.load+hydra.utils.instantiate _convert_=all; "
                f"YAML parsing included; median of {opts.rounds})"
            )
        finally:
            sys.path.remove(str(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
