"""Weights a bundle overwrites are not initialised first; everything else still is, exactly as usual."""

from __future__ import annotations

import threading

import torch
from torch import nn

from torchon_torch.deferred_init import deferred_init, mark_loaded


def test_initialisation_runs_at_the_end_for_what_was_not_loaded() -> None:
    torch.manual_seed(0)
    expected = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Embedding(3, 2))
    with deferred_init():
        built = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Embedding(3, 2))
        torch.manual_seed(0)  # the deferred calls run in their original order, from here
    for key, value in expected.state_dict().items():
        assert torch.equal(built.state_dict()[key], value), key


def test_loaded_weights_are_not_initialised_again() -> None:
    with deferred_init():
        loaded = nn.Linear(8, 8)
        other = nn.Linear(8, 8)
        with torch.no_grad():
            loaded.weight.fill_(7.0)
            loaded.bias.fill_(7.0)
        mark_loaded(loaded)
    assert bool((loaded.weight == 7.0).all()) and bool((loaded.bias == 7.0).all())
    bound = 1 / 8**0.5
    assert bool((other.weight.abs() <= bound).all()) and not bool((other.weight == 0).all())


def test_non_persistent_buffers_are_initialised() -> None:
    class WithScratch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.register_buffer("scratch", torch.empty(3), persistent=False)
            nn.init.ones_(self.scratch)

    with deferred_init():
        module = WithScratch()
        mark_loaded(module)  # loads parameters and persistent buffers only
    assert torch.equal(module.scratch, torch.ones(3))


def test_outside_the_block_nothing_changes() -> None:
    original = nn.init.kaiming_uniform_
    with deferred_init(), deferred_init():
        assert nn.init.kaiming_uniform_ is not original
    assert nn.init.kaiming_uniform_ is original
    tensor = torch.zeros(3)
    nn.init.ones_(tensor)
    assert torch.equal(tensor, torch.ones(3))
    mark_loaded(nn.Linear(2, 2))  # no block open: nothing to do


def test_a_thread_building_during_the_block_is_initialised_by_its_end() -> None:
    built: list[nn.Module] = []
    with deferred_init():
        thread = threading.Thread(target=lambda: built.append(nn.Linear(16, 16)))
        thread.start()
        thread.join()
    weight = built[0].weight
    assert bool((weight.abs() <= 0.25).all()) and bool(torch.isfinite(weight).all())
