"""Saving and loading a 512 MB torch model as a bundle, against safetensors and torch.load.

Figures:
- ``save-512MB``: ``torchon.save`` of a module with 512 MB of float32 parameters (digests and fsync included)
  against ``safetensors.torch.save_file`` of its state dict. Goal: ratio <= 1.15.
- ``load-512MB``: ``torchon.load`` of that bundle — rebuilding the model, reading the weights into it, verifying
  every digest — against the unverified ``model.load_state_dict(torch.load(path, weights_only=True))`` into an
  existing model. Goal: ratio <= 1.0. Page cache warm for both.

Runs alternate torchon and the anchor; medians are printed. Needs torch, safetensors and torchon-torch.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROUNDS = 5
LAYERS = 8
WIDTH = 4096  # 8 x 4096 x 4096 float32 = 512 MiB

MODEL_SOURCE = textwrap.dedent(
    f"""
    import torch
    import torchon


    class BigNet(torchon.Component, torch.nn.Module):
        def __init__(self, layers: int = {LAYERS}, width: int = {WIDTH}) -> None:
            torch.nn.Module.__init__(self)
            self.body = torch.nn.Sequential(
                *[torch.nn.Linear(width, width, bias=False) for _ in range(layers)]
            )
    """
)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    gc.collect()
    os.sync()  # flush what the previous operation left dirty, so neither side pays for the other's writeback
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    import safetensors.torch
    import torch

    import torchon

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="torchon-bench-bundle-") as tmp:
        folder = Path(tmp)
        (folder / "bench_bignet.py").write_text(MODEL_SOURCE)
        sys.path.insert(0, str(folder))
        from bench_bignet import BigNet  # type: ignore[import-not-found]

        torch.manual_seed(0)
        model = BigNet()
        size_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
        state = model.state_dict()
        bundle, anchor_st, anchor_pt = folder / "bundle", folder / "anchor.safetensors", folder / "anchor.pt"
        torch.save(state, anchor_pt)

        # warm-up: imports, page cache, first-call costs
        torchon.save(model, bundle)
        safetensors.torch.save_file(state, anchor_st)
        loaded = torchon.load(bundle)
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), state.values()))
        del loaded
        target = BigNet()

        def torchon_load() -> None:
            torchon.load(bundle)

        save_t, save_a, load_t, load_a = [], [], [], []
        for _ in range(ROUNDS):
            save_t.append(timed(lambda: torchon.save(model, bundle)))
            save_a.append(timed(lambda: safetensors.torch.save_file(state, anchor_st)))
            load_t.append(timed(torchon_load))
            load_a.append(timed(lambda: target.load_state_dict(torch.load(anchor_pt, weights_only=True))))

    st, sa = statistics.median(save_t), statistics.median(save_a)
    lt, la = statistics.median(load_t), statistics.median(load_a)
    print(f"model: {LAYERS} x Linear({WIDTH}, {WIDTH}), {size_mb:.0f} MiB float32; torch {torch.__version__}")
    print(f"save  torchon {[round(x, 3) for x in save_t]}  anchor {[round(x, 3) for x in save_a]}")
    print(f"load  torchon {[round(x, 3) for x in load_t]}  anchor {[round(x, 3) for x in load_a]}")
    print(
        f"BENCH save-512MB: ratio={st / sa:.2f} goal=<=1.15 torchon={st:.2f}s anchor={sa:.2f}s "
        f"(safetensors.torch.save_file; torchon includes BLAKE3 digests and fsync)"
    )
    print(
        f"BENCH load-512MB: ratio={lt / la:.2f} goal=<=1.0 torchon={lt:.2f}s anchor={la:.2f}s "
        f"(model.load_state_dict(torch.load(path, weights_only=True)), unverified, model already built; "
        f"torchon rebuilds the model and verifies every digest)"
    )


if __name__ == "__main__":
    main()
