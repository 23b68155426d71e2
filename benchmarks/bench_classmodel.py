"""Exporting and loading a Verta-style class model whose ``__init__`` loads a 50 MB artifact.

The class is written as Verta's users write it (``__init__(self, artifacts)`` reads the artifact with ``np.load``,
``predict(data)``, nothing else): torchon rebuilds it from its config on load, so neither side should pay for the
array twice.

Figures:
- ``classmodel-load-50MB``: ``torchon.load`` of the exported bundle (manifest, every digest, the config, ``__init__``
  loading the bundle's copy of the artifact, the fingerprint of what ``__init__`` set) against the least a safe
  loader does: check the artifact's BLAKE3 digest (``torchon.bundle.files.digest_file``) and ``np.load`` it once.
  Goal: ratio <= 1.0.
- ``classmodel-export-50MB``: building the model from its artifact and ``torchon.save`` of it to a local folder
  (the artifact copied into the bundle, fsynced, digested; config and manifest) against ``np.load`` of the artifact
  once plus writing its bytes as a bundle must (copy, fsync, BLAKE3 digest). Goal: ratio <= 1.0.

Runs alternate torchon and the anchor, page cache warm, ``os.sync()`` before each timed operation; medians printed.
Needs numpy and torchon-export (for ``!artifact``).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

MODEL_SOURCE = textwrap.dedent(
    """
    import numpy as np

    import torchon


    class EmbeddingModel(torchon.Component):
        def __init__(self, artifacts: dict) -> None:
            self.artifacts = artifacts
            self.table = np.load(artifacts["table"])

        def predict(self, data: list[int]) -> list[float]:
            return [float(self.table[i].sum()) for i in data]
    """
)


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    os.sync()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    import numpy as np

    import torchon
    from torchon.bundle.files import digest_file

    with tempfile.TemporaryDirectory(prefix="torchon-bench-classmodel-") as tmp:
        folder = Path(tmp)
        (folder / "bench_classmodel_ext.py").write_text(MODEL_SOURCE)
        sys.path.insert(0, str(folder))
        from bench_classmodel_ext import EmbeddingModel  # type: ignore[import-not-found]

        rows = args.megabytes * 1024 * 1024 // (8 * 256)
        table = np.random.default_rng(0).standard_normal((rows, 256))
        np.save(folder / "table.npy", table)
        artifact_file = folder / "table.npy"
        size_mb = artifact_file.stat().st_size / 1e6

        def export() -> None:
            artifacts = torchon.fetch_artifacts(str(folder), ["table.npy"])
            model = EmbeddingModel({"table": artifacts["table.npy"]})
            torchon.save(model, folder / "bundle")

        def export_anchor() -> None:
            np.load(artifact_file)
            out = folder / "anchor" / "table.npy"
            out.parent.mkdir(exist_ok=True)
            shutil.copyfile(artifact_file, out)
            with open(out, "rb") as f:
                os.fsync(f.fileno())
            digest_file(out)

        loaded: list[object] = []

        def load() -> None:
            loaded.append(torchon.load(folder / "bundle"))

        def load_anchor() -> None:
            digest_file(folder / "bundle" / "artifacts" / "table.npy")
            np.load(folder / "bundle" / "artifacts" / "table.npy")

        export()  # warm-up: imports, page cache
        export_anchor()
        load()
        load_anchor()
        model = loaded.pop()
        assert model.predict([0, 5]) == EmbeddingModel({"table": str(artifact_file)}).predict([0, 5])  # type: ignore[attr-defined]
        saved_npy = (
            list((folder / "bundle" / "state").rglob("*.npy"))
            if (folder / "bundle" / "state").exists()
            else []
        )
        assert not saved_npy, "the array __init__ loaded was saved again"

        times: dict[str, list[float]] = {k: [] for k in ("export", "export_anchor", "load", "load_anchor")}
        for _ in range(args.rounds):
            # torchon replaces the bundle (the old one is deleted in the background); the anchor writes a new
            # file too, not over the old one's blocks
            times["export"].append(timed(export))
            shutil.rmtree(folder / "anchor")
            times["export_anchor"].append(timed(export_anchor))
            times["load"].append(timed(load))
            times["load_anchor"].append(timed(load_anchor))
            loaded.clear()

    med = {k: statistics.median(v) for k, v in times.items()}
    note = f"({size_mb:.0f} MB artifact, median of {args.rounds})"
    print(
        f"BENCH classmodel-load-50MB: ratio={med['load'] / med['load_anchor']:.3f} goal=<=1.0 "
        f"torchon={med['load'] * 1000:.1f}ms anchor={med['load_anchor'] * 1000:.1f}ms "
        f"{note} (anchor: digest_file + np.load)"
    )
    print(
        f"BENCH classmodel-export-50MB: ratio={med['export'] / med['export_anchor']:.3f} goal=<=1.0 "
        f"torchon={med['export'] * 1000:.1f}ms anchor={med['export_anchor'] * 1000:.1f}ms "
        f"{note} (anchor: np.load + copy, fsync, digest_file)"
    )


if __name__ == "__main__":
    main()
