"""Torch objects through ``torchon.save`` / ``torchon.load``: models built from YAML and in Python come back with
their weights, buffers, optimizer and scheduler state, and training resumes bit for bit."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import torchon
from torchon import Partial
from torchon.bundle import BundleIntegrityError, SaveError
from torchon.config import loads

FIT_YAML = textwrap.dedent(
    """
    !Fit
    model: !torch.nn.Sequential
      - !torch.nn.Linear {in_features: 3, out_features: 8}
      - !torch.nn.ReLU {}
      - !torch.nn.Linear {in_features: 8, out_features: 1}
    optimizer: !torch.optim.Adam {lr: 0.01}
    scheduler: !torch.optim.lr_scheduler.StepLR {step_size: 1, gamma: 0.5}
    steps: 6
    """
)


def assert_same_tensors(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def assert_same_optimizer_state(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for index in sa["state"]:
        assert_same_tensors(sa["state"][index], sb["state"][index])


def finish(fit: Any) -> None:
    while fit.step():
        pass


def test_a_model_built_from_yaml_resumes_bit_exactly(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fit = loads(FIT_YAML).build().root
    for _ in range(2):
        fit.step()
    torchon.save(fit, tmp_path / "b")
    loaded = torchon.load(tmp_path / "b")

    assert type(loaded) is corpus.Fit and loaded.done == 2
    assert isinstance(loaded.model, nn.Sequential)
    assert_same_tensors(loaded.model.state_dict(), fit.model.state_dict())
    assert_same_optimizer_state(loaded.opt, fit.opt)
    assert loaded.sched.state_dict() == fit.sched.state_dict()
    assert loaded.opt.param_groups[0]["lr"] == fit.opt.param_groups[0]["lr"] == 0.0025
    assert torch.equal(loaded.best, fit.best)  # a tensor in the state: torch-tensor
    assert list(loaded.opt.param_groups[0]["params"]) == list(loaded.model.parameters())

    finish(fit)
    finish(loaded)
    assert loaded.done == fit.done == 6
    assert_same_tensors(loaded.model.state_dict(), fit.model.state_dict())
    assert_same_optimizer_state(loaded.opt, fit.opt)


def test_a_model_built_in_python_comes_back(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    fit = corpus.Fit(
        model=corpus.TinyNet(width=6),
        optimizer=Partial(torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
        steps=5,
    )
    fit.step()
    fit.step()
    fit.model.seen = 16
    fit.model.body[1].eval()  # BatchNorm frozen: its running statistics stay as trained
    torchon.save(fit, tmp_path / "b")
    loaded = torchon.load(tmp_path / "b")

    model = loaded.model
    assert type(model) is corpus.TinyNet and model.seen == 16 and model.body[0].out_features == 6
    assert_same_tensors(model.state_dict(), fit.model.state_dict())  # BatchNorm's buffers included
    assert int(model.body[1].num_batches_tracked) == 2
    assert [m.training for m in model.modules()] == [m.training for m in fit.model.modules()]
    assert_same_optimizer_state(loaded.opt, fit.opt)

    finish(fit)
    finish(loaded)
    assert_same_tensors(loaded.model.state_dict(), fit.model.state_dict())


def test_modules_the_bundle_does_not_restore_are_initialised(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    torchon.save(loads(FIT_YAML).build().root, tmp_path / "b")
    probe = torchon.load(tmp_path / "b")._probe.weight.detach()  # built while initialisation was deferred
    assert (
        bool(torch.isfinite(probe).all()) and bool((probe.abs() <= 1 / 8).all()) and float(probe.std()) > 0.01
    )


def test_a_part_loads_on_its_own(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fit = loads(FIT_YAML).build().root
    fit.step()
    torchon.save(fit, tmp_path / "b")
    model = torchon.load(tmp_path / "b", path="model")
    assert isinstance(model, nn.Sequential)
    assert_same_tensors(model.state_dict(), fit.model.state_dict())
    x = torch.randn(4, 3)
    assert torch.equal(model(x), fit.model(x))


def test_a_bundle_of_torch_state_holds_no_pickle(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fit = loads(FIT_YAML).build().root
    fit.step()
    torchon.save(fit, tmp_path / "b")
    files = [p for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert {p.suffix for p in files} == {".json", ".yaml", ".safetensors"}
    for path in files:
        assert not path.read_bytes().startswith(b"\x80"), path  # a pickle's protocol marker
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    savers = {s["name"]: s["safety"] for node in manifest["nodes"] for s in node["savers"]}
    assert savers == {
        "json": "data",
        "torch-tensor": "data",
        "torch-optimizer": "data",
        "torch-lr-scheduler": "data",
        "torch-module": "data",
    }


def test_a_flipped_byte_in_the_weights_is_refused_naming_the_file(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fit = loads(FIT_YAML).build().root
    torchon.save(fit, tmp_path / "b")
    weights = sorted((tmp_path / "b").rglob("module.safetensors"))[0]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x80
    weights.write_bytes(bytes(data))
    name = weights.relative_to(tmp_path / "b").as_posix()
    with pytest.raises(BundleIntegrityError, match=f"{name} does not match its blake3 digest"):
        torchon.load(tmp_path / "b")


def test_a_bare_module_built_in_python_cannot_be_rebuilt(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Nothing recorded how torch.nn.Linear(3, 1) was built: build it from a config or in a component.
    with pytest.raises(SaveError, match=r"torch\.nn\.modules\.linear\.Linear is neither a component"):
        torchon.save(nn.Linear(3, 1), tmp_path / "b")


def test_each_weight_is_saved_once(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fit = loads(FIT_YAML).build().root
    torchon.save(fit, tmp_path / "b")
    weights = list((tmp_path / "b").rglob("module.safetensors"))
    assert len(weights) == 1  # the Sequential's file holds its layers' weights; the layers add none


def test_a_layer_inside_a_saved_module_loads_on_its_own(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fit = loads(FIT_YAML).build().root
    fit.step()
    torchon.save(fit, tmp_path / "b")
    layer = torchon.load(tmp_path / "b", path="model[0]")
    assert isinstance(layer, nn.Linear)
    assert_same_tensors(layer.state_dict(), fit.model[0].state_dict())


def test_state_is_what_changed_after_init_tensors_by_their_version(corpus) -> None:  # type: ignore[no-untyped-def]
    fit = loads(FIT_YAML).build().root
    assert set(fit.get_state()) == {"opt", "sched"}  # optimizers and schedulers (a state_dict()) always are
    fit.best.fill_(0.5)  # in place: torch bumps the tensor's version
    assert set(fit.get_state()) == {"opt", "sched", "best"}
    fresh = loads(FIT_YAML).build().root
    fresh.step()  # rebinds best and done
    assert set(fresh.get_state()) == {"opt", "sched", "best", "done"}


def test_a_module_made_in_init_keeps_its_trained_weights(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wrapper = corpus.Wrapper(width=4)
    with torch.no_grad():
        wrapper.net.weight.fill_(0.25)
    torchon.save(wrapper, tmp_path / "b")
    loaded = torchon.load(tmp_path / "b")
    assert torch.equal(loaded.net.weight, torch.full((4, 3), 0.25))
