"""The Trainer on a CUDA device: ``device: auto`` picks it, mixed precision (float16 with a gradient scaler, and
bfloat16) trains, and a Trainer saved between steps on the GPU continues bit-exactly, scaler and CUDA generator
included. Skipped where there is no CUDA device (CI has none); run them on a machine with one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import torchon

from .test_trainer import BASE, build, same, saved_midway_and_continued, setup, teardown, weights, with_lines

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# dropout draws from the CUDA generator on the GPU: resuming must restore it too
DROPOUT = with_lines(BASE, device="auto").replace("!torch.nn.ReLU {}", "!torch.nn.Dropout {p: 0.3}")


def test_device_auto_trains_on_cuda_and_the_bundles_load_anywhere(manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = build(with_lines(BASE, device="auto"))
    trainer = setup(built, tmp_path / "out")
    assert all(p.device.type == "cuda" for p in trainer.model.parameters())
    trainer.run()
    trained = weights(trainer.model)
    teardown(built)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["best"]["value"] > 0.5  # three classes: better than chance

    final = torchon.load(tmp_path / "out" / "final")
    assert final.steps_done == 4
    assert same(
        {k: v.cpu() for k, v in weights(final.model).items()}, {k: v.cpu() for k, v in trained.items()}
    )
    last = torchon.load(tmp_path / "out" / "checkpoints" / "last")
    assert all(torch.equal(last.model[k].cpu(), trained[k].cpu()) for k in trained)
    best = torchon.load(tmp_path / "out" / "best")
    assert isinstance(best, torch.nn.Sequential)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_mixed_precision_trains_and_a_float16_run_keeps_its_scaler(
    manager, tmp_path: Path, dtype: str
) -> None:  # type: ignore[no-untyped-def]
    built = build(with_lines(BASE, device="cuda", amp="true", amp_dtype=dtype, max_steps=6))
    trainer = setup(built, tmp_path / "out")
    seen: list[torch.dtype] = []
    hook = trainer.model[0].register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    trainer.run()
    hook.remove()
    teardown(built)
    assert seen and set(seen) == {getattr(torch, dtype)}  # the forward pass ran under autocast
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # master weights stay float32
    assert trainer.best_metric > 0.5
    state = trainer.get_state()
    assert ("scaler" in state) == (dtype == "float16")
    if dtype == "float16":
        assert state["scaler"]["scale"] > 0


@pytest.mark.parametrize("amp", ["false", "true"])
def test_a_trainer_saved_between_steps_on_cuda_continues_bit_exactly(
    manager, tmp_path: Path, amp: str
) -> None:  # type: ignore[no-untyped-def]
    text = with_lines(DROPOUT, max_steps=5, iterations_per_step=4, checkpoint="false", amp=amp)

    def disturb() -> None:  # every generator, the CUDA one included
        torch.manual_seed(1234)
        torch.cuda.manual_seed_all(1234)

    again, straight = saved_midway_and_continued(text, tmp_path, disturb)
    assert next(again.model.parameters()).device.type == "cuda"
    assert again.steps_done == 5
    assert same(weights(again.model), weights(straight.model))
    assert again.best_metric == straight.best_metric
