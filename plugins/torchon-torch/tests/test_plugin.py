"""The plugin as torchon sees it: a cheap entry module, its registrations, and configs using torch namespaces."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from torchon.config import ConfigError, loads
from torchon.plugins import PluginManager

SEQUENTIAL = """
!torch.nn.Sequential [!torch.nn.Linear {in_features: 4, out_features: 8}, !torch.nn.ReLU {}, !torch.nn.Linear {in_features: 8, out_features: 2}]
"""


def test_entry_module_and_registration_import_no_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        import torchon_torch.plugin
        assert "torch" not in sys.modules, "importing the entry module imported torch"
        from torchon.plugins import PluginManager
        manager = PluginManager.from_options(["torch"], autoload=False)
        assert not manager.failed(), manager.failed()
        heavy = sorted(m for m in ("torch", "safetensors", "numpy") if m in sys.modules)
        assert not heavy, f"registering imported {heavy}"
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_registrations(manager: PluginManager) -> None:
    assert manager.namespaces.names() == [
        "torch.nn",
        "torch.optim",
        "torch.optim.lr_scheduler",
        "torch.utils.data",
    ]
    savers = {e.name: e for e in manager.savers.by_plugin("torch")}
    assert sorted(savers) == ["torch-lr-scheduler", "torch-module", "torch-optimizer", "torch-tensor"]
    assert {e.options["safety"] for e in savers.values()} == {"data"}
    assert savers["torch-module"].options["types"] == ("torch.nn.modules.module:Module",)
    assert savers["torch-tensor"].options["values"] == ("torch:Tensor",)
    for entry in savers.values():  # every target imports and names the class registered
        assert entry.load().name == entry.name
        assert entry.load().safety == entry.options["safety"]
    for entry in savers.values():
        for name in (*entry.options["types"], *entry.options["values"]):
            module, _, attr = name.partition(":")
            assert isinstance(getattr(sys.modules[module], attr), type), name


def test_a_sequential_from_a_config(manager: PluginManager) -> None:
    model = loads(SEQUENTIAL).build().root
    assert isinstance(model, nn.Sequential) and len(model) == 3
    assert isinstance(model[0], nn.Linear) and model[0].in_features == 4 and model[2].out_features == 2
    assert model(torch.randn(5, 4)).shape == (5, 2)


def test_optimizer_and_scheduler_namespaces_as_partials(corpus) -> None:  # type: ignore[no-untyped-def]
    fit = (
        loads(
            textwrap.dedent(
                """
                !Fit
                model: !torch.nn.Linear {in_features: 3, out_features: 1}
                optimizer: !torch.optim.Adam {lr: 0.001, betas: [0.8, 0.9]}
                scheduler: !torch.optim.lr_scheduler.StepLR {step_size: 2, gamma: 0.5}
                """
            )
        )
        .build()
        .root
    )
    assert isinstance(fit.opt, torch.optim.Adam) and fit.opt.param_groups[0]["lr"] == 0.001
    assert isinstance(fit.sched, torch.optim.lr_scheduler.StepLR) and fit.sched.step_size == 2
    fit.run()
    assert fit.done == 3


def test_data_namespace(manager: PluginManager) -> None:
    sampler = loads("!torch.utils.data.SequentialSampler {data_source: [1, 2, 3]}").build().root
    assert list(sampler) == [0, 1, 2]


def test_a_misspelt_class_gets_a_suggestion(manager: PluginManager) -> None:
    with pytest.raises(
        ConfigError, match=r"!torch.nn has no class 'Linaer' \(did you mean !torch.nn.Linear\b"
    ):
        loads("!torch.nn.Linaer {in_features: 4, out_features: 2}")


def test_a_config_built_model_writes_back_its_config(manager: PluginManager) -> None:
    from torchon.config.dump import dump_yaml

    text = dump_yaml(loads(SEQUENTIAL).build().root)
    assert "!torch.nn.Sequential" in text and text.count("!torch.nn.Linear") == 2
    again = loads(text).build().root
    assert [type(m) for m in again] == [nn.Linear, nn.ReLU, nn.Linear]
