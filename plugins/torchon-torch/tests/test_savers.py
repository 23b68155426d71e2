"""Each torch saver round-trips through a real WriteFolder -> ReadFolder on disk: exact tensors, tied weights,
buffers, optimizer and scheduler state that resumes training bit for bit, and corrupted files refused by name."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import torchon
from torchon.bundle.files import BundleIntegrityError
from torchon_torch.savers import ModuleSaver, OptimizerSaver, SchedulerSaver, TensorSaver

if TYPE_CHECKING:
    from .conftest import SaverBench


def assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def seeded(make: Callable[[], nn.Module], seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return make()


class Tied(nn.Module):
    """A language-model shape: the output layer shares the embedding's weight."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.hidden = nn.Linear(4, 4)
        self.out = nn.Linear(4, 10, bias=False)
        self.out.weight = self.embed.weight


class WithExtraState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.extra: Any = None

    def get_extra_state(self) -> Any:
        return self.extra

    def set_extra_state(self, state: Any) -> None:
        self.extra = state


class TransposedWeight(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, 5).t())  # a non-contiguous parameter


class Net(torchon.Component, nn.Module):
    """A component that is a module: the module saver takes the weights, the default saver the rest."""

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.lin = nn.Linear(width, width)
        self.epochs = 0


# -- torch-module ----------------------------------------------------------------------------------------------


def test_module_round_trip(bench: SaverBench) -> None:
    saver = ModuleSaver()
    model = seeded(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), 0)
    assert saver.can_save(model, {})
    assert bench.save(saver, model, {"kept": 1}) == {"kept": 1}  # weights come from the module itself
    assert bench.files(saver) == ["module.json", "module.safetensors"]
    fresh = seeded(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), 1)
    assert bench.load(saver, fresh, {"kept": 1}) == {"kept": 1}
    assert_same_state(fresh.state_dict(), model.state_dict())
    x = torch.randn(5, 4)
    assert torch.equal(fresh(x), model(x))


def test_module_file_is_a_plain_state_dict(bench: SaverBench) -> None:
    saver = ModuleSaver()
    model = nn.Linear(3, 2)
    bench.save(saver, model)
    assert_same_state(load_file(bench.folder(saver) / "module.safetensors"), model.state_dict())


def test_tied_weights_are_stored_once_and_stay_tied(bench: SaverBench) -> None:
    saver = ModuleSaver()
    model = seeded(Tied, 0)
    bench.save(saver, model)
    stored = load_file(bench.folder(saver) / "module.safetensors")
    assert "embed.weight" in stored and "out.weight" not in stored  # one copy on disk
    fresh = seeded(Tied, 1)
    bench.load(saver, fresh)
    assert fresh.out.weight is fresh.embed.weight
    assert_same_state(fresh.state_dict(), model.state_dict())


def test_buffers_and_eval_mode(bench: SaverBench) -> None:
    saver = ModuleSaver()

    def make() -> nn.Module:
        return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))

    model = seeded(make, 0)
    for _ in range(3):
        model(torch.randn(8, 3))  # moves the running statistics and num_batches_tracked
    model[1].eval()
    bench.save(saver, model)
    fresh = seeded(make, 1)
    bench.load(saver, fresh)
    assert fresh[1].num_batches_tracked.dtype == torch.int64 and int(fresh[1].num_batches_tracked) == 3
    assert_same_state(fresh.state_dict(), model.state_dict())
    modes = [m.training for m in model.modules()]
    assert modes == [True, True, False, True]
    assert [m.training for m in fresh.modules()] == modes


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64], ids=str)
def test_module_dtypes_are_kept(bench: SaverBench, dtype: torch.dtype) -> None:
    saver = ModuleSaver()
    model = seeded(lambda: nn.Linear(6, 3), 0).to(dtype)
    bench.save(saver, model)
    fresh = seeded(lambda: nn.Linear(6, 3), 1).to(dtype)
    bench.load(saver, fresh)
    assert_same_state(fresh.state_dict(), model.state_dict())


def test_module_keeps_its_own_dtype_and_says_so(bench: SaverBench, caplog: pytest.LogCaptureFixture) -> None:
    saver = ModuleSaver()
    model = seeded(lambda: nn.Linear(6, 3), 0).half()
    bench.save(saver, model)
    fresh = nn.Linear(6, 3)  # float32, as a config rebuilds it
    with caplog.at_level(logging.WARNING, logger="torchon.torch"):
        bench.load(saver, fresh)
    assert fresh.weight.dtype == torch.float32
    assert torch.equal(fresh.weight, model.weight.float())
    assert "weight (torch.float16 -> torch.float32)" in caplog.text


def test_non_contiguous_parameter(bench: SaverBench) -> None:
    saver = ModuleSaver()
    model = seeded(TransposedWeight, 0)
    bench.save(saver, model)
    fresh = seeded(TransposedWeight, 1)
    bench.load(saver, fresh)
    assert not fresh.w.is_contiguous()  # loaded into the existing parameter, layout kept
    assert torch.equal(fresh.w, model.w)


def test_extra_state_of_any_plain_shape(bench: SaverBench) -> None:
    saver = ModuleSaver()
    model = WithExtraState()
    model.extra = {"vocab": ["a", "b"], "pair": (1, 2.5), "scale": torch.tensor(2.0), 3: None}
    bench.save(saver, model)
    fresh = WithExtraState()
    bench.load(saver, fresh)
    extra = fresh.extra
    assert extra["vocab"] == ["a", "b"] and extra["pair"] == (1, 2.5) and extra[3] is None
    assert torch.equal(extra["scale"], torch.tensor(2.0))


def test_module_of_another_shape_is_refused(bench: SaverBench) -> None:
    saver = ModuleSaver()
    bench.save(saver, nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="size mismatch"):
        bench.load(saver, nn.Linear(3, 4))
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "bias"'):
        bench.load(saver, nn.Linear(3, 2, bias=False))


def test_a_component_that_is_a_module(bench: SaverBench) -> None:
    saver = ModuleSaver()
    net = seeded(Net, 0)
    net.epochs = 4
    state = net.get_state()
    assert state["epochs"] == 4
    left = bench.save(saver, net, state)
    assert left == state  # what is not weights stays for the default saver
    fresh = seeded(Net, 1)
    bench.load(saver, fresh, left)
    assert_same_state(fresh.state_dict(), net.state_dict())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_module_device_is_kept(bench: SaverBench) -> None:
    saver = ModuleSaver()
    model = seeded(lambda: nn.Linear(4, 4), 0).cuda()
    bench.save(saver, model)
    fresh = nn.Linear(4, 4).cuda()
    bench.load(saver, fresh)
    assert fresh.weight.device.type == "cuda"
    assert torch.equal(fresh.weight, model.weight)


# -- torch-tensor ----------------------------------------------------------------------------------------------


def test_tensors_in_state(bench: SaverBench) -> None:
    saver = TensorSaver()
    weights = torch.randn(3, 3, dtype=torch.float64)
    state = {
        "weights": weights,
        "history": [torch.tensor(1.5), {"best": weights, "ids": torch.arange(4, dtype=torch.int32)}],
        "mask": torch.tensor([True, False]),
        "epochs": 3,
        "name": "run",
    }
    assert saver.can_save(None, state)
    assert not saver.can_save(None, {"epochs": 3})
    left = bench.save(saver, None, state)
    assert left == {"epochs": 3, "name": "run"}  # the rest is the default saver's
    back = bench.load(saver, None, left)
    assert back.keys() == state.keys() and back["epochs"] == 3
    assert torch.equal(back["weights"], weights) and back["weights"].dtype == torch.float64
    assert back["history"][1]["best"] is back["weights"]  # saved once, one tensor again
    assert back["history"][1]["ids"].dtype == torch.int32
    assert torch.equal(back["mask"], state["mask"])


# -- torch-optimizer -------------------------------------------------------------------------------------------


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, start: int) -> None:
    for i in range(start, start + steps):
        gen = torch.Generator().manual_seed(i)
        x, y = torch.randn(16, 5, generator=gen), torch.randn(16, 1, generator=gen)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()


OPTIMIZERS: dict[str, Callable[[Any], torch.optim.Optimizer]] = {
    "adam": lambda params: torch.optim.Adam(params, lr=1e-2),
    "adamw-amsgrad": lambda params: torch.optim.AdamW(params, lr=1e-2, amsgrad=True, weight_decay=0.1),
    "sgd-momentum": lambda params: torch.optim.SGD(
        params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3
    ),
    "two-groups": lambda params: torch.optim.SGD(
        [{"params": params[:2], "lr": 0.1}, {"params": params[2:], "momentum": 0.5}], lr=0.01, momentum=0.9
    ),
}


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_optimizer_resumes_bit_exactly(bench: SaverBench, kind: str) -> None:
    make = OPTIMIZERS[kind]
    model = seeded(_model, 0)
    optimizer = make(list(model.parameters()))
    _train(model, optimizer, 3, start=0)

    module_saver, optimizer_saver = ModuleSaver(), OptimizerSaver()
    assert optimizer_saver.can_save(optimizer, {})
    bench.save(module_saver, model)
    bench.save(optimizer_saver, optimizer)
    assert bench.files(optimizer_saver) == ["optimizer.json", "optimizer.safetensors"]

    # the uninterrupted run goes on...
    saved_state = copy.deepcopy(optimizer.state_dict())
    _train(model, optimizer, 2, start=3)

    # ...and the restored one, from a fresh model and optimizer, must land on the same bits
    fresh = seeded(_model, 1)
    fresh_optimizer = make(list(fresh.parameters()))
    bench.load(module_saver, fresh)
    bench.load(optimizer_saver, fresh_optimizer)
    restored = fresh_optimizer.state_dict()
    assert restored["param_groups"] == saved_state["param_groups"]
    for index, entries in saved_state["state"].items():
        assert_same_state(restored["state"][index], entries)
    _train(fresh, fresh_optimizer, 2, start=3)
    assert_same_state(fresh.state_dict(), model.state_dict())


def test_optimizer_json_holds_the_param_groups(bench: SaverBench) -> None:
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, betas=(0.8, 0.95))
    _train(model, optimizer, 1, start=0)
    saver = OptimizerSaver()
    bench.save(saver, optimizer)
    doc = json.loads((bench.folder(saver) / "optimizer.json").read_text())
    group = doc["state_dict"]["param_groups"][0]
    assert group["lr"] == 3e-4 and group["params"] == [0, 1, 2, 3]
    assert group["betas"] == {"$tuple": [0.8, 0.95]}
    assert doc["state_dict"]["state"]["$dict"][0][1]["exp_avg"] == {"$tensor": "state/0/exp_avg"}


# -- torch-lr-scheduler ----------------------------------------------------------------------------------------


SCHEDULERS: dict[str, Callable[[torch.optim.Optimizer], Any]] = {
    "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    "one-cycle": lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20),
    "plateau": lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1),
    "lambda": lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.9**epoch),
}


@pytest.mark.parametrize("kind", SCHEDULERS)
def test_scheduler_round_trip(bench: SaverBench, kind: str) -> None:
    def step(optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        optimizer.step()
        if kind == "plateau":
            scheduler.step(1.0)  # never improves: the lr drops
        else:
            scheduler.step()

    optimizer = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    scheduler = SCHEDULERS[kind](optimizer)
    for _ in range(5):
        step(optimizer, scheduler)
    saver = SchedulerSaver()
    bench.save(saver, scheduler)
    assert bench.files(saver) == ["scheduler.json"]  # plain data only

    fresh_optimizer = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    fresh_optimizer.load_state_dict(optimizer.state_dict())
    fresh = SCHEDULERS[kind](fresh_optimizer)
    bench.load(saver, fresh)
    assert fresh.state_dict() == scheduler.state_dict()
    for _ in range(3):
        step(optimizer, scheduler)
        step(fresh_optimizer, fresh)
    assert fresh.state_dict() == scheduler.state_dict()
    assert fresh_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


# -- corrupted files -------------------------------------------------------------------------------------------


def _saved_module(bench: SaverBench) -> tuple[Any, Callable[[], Any]]:
    saver = ModuleSaver()
    bench.save(saver, nn.Linear(4, 4))
    return saver, lambda: bench.load(saver, nn.Linear(4, 4))


def _saved_optimizer(bench: SaverBench) -> tuple[Any, Callable[[], Any]]:
    model = _model()
    optimizer = torch.optim.Adam(model.parameters())
    _train(model, optimizer, 1, start=0)
    saver = OptimizerSaver()
    bench.save(saver, optimizer)
    return saver, lambda: bench.load(saver, torch.optim.Adam(model.parameters()))


def _saved_scheduler(bench: SaverBench) -> tuple[Any, Callable[[], Any]]:
    optimizer = torch.optim.SGD(_model().parameters(), lr=0.1)
    saver = SchedulerSaver()
    bench.save(saver, torch.optim.lr_scheduler.StepLR(optimizer, 2))
    return saver, lambda: bench.load(saver, torch.optim.lr_scheduler.StepLR(optimizer, 2))


def _saved_tensors(bench: SaverBench) -> tuple[Any, Callable[[], Any]]:
    saver = TensorSaver()
    left = bench.save(saver, None, {"t": torch.ones(8)})
    return saver, lambda: bench.load(saver, None, left)


@pytest.mark.parametrize(
    ("setup", "name"),
    [
        (_saved_module, "module.safetensors"),
        (_saved_module, "module.json"),
        (_saved_optimizer, "optimizer.safetensors"),
        (_saved_optimizer, "optimizer.json"),
        (_saved_scheduler, "scheduler.json"),
        (_saved_tensors, "tensors.safetensors"),
        (_saved_tensors, "tensors.json"),
    ],
)
@pytest.mark.parametrize("where", ["first", "last"])
def test_a_flipped_byte_is_refused_naming_the_file(bench: SaverBench, setup, name: str, where: str) -> None:
    saver, load = setup(bench)
    path = bench.folder(saver) / name
    data = bytearray(path.read_bytes())
    data[0 if where == "first" else -1] ^= 0x01
    path.write_bytes(bytes(data))
    message = f"root/{saver.name}/{name} does not match its blake3 digest"
    with pytest.raises(BundleIntegrityError, match=message):
        load()


@pytest.mark.parametrize("setup", [_saved_module, _saved_optimizer, _saved_tensors])
def test_truncated_and_missing_tensor_files_are_refused(bench: SaverBench, setup) -> None:
    saver, load = setup(bench)
    stem = {"torch-module": "module", "torch-optimizer": "optimizer", "torch-tensor": "tensors"}[saver.name]
    path = bench.folder(saver) / f"{stem}.safetensors"
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(BundleIntegrityError, match=f"root/{saver.name}/{stem}.safetensors has .* bytes"):
        load()
    path.unlink()
    with pytest.raises(BundleIntegrityError, match=f"root/{saver.name}/{stem}.safetensors is missing"):
        load()
