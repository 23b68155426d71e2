"""get_env / set_env: the environment in force, copies with overrides, and serialisation for remote runs."""

from __future__ import annotations

import pytest

import torchon
from torchon.env import Environment, get_env, set_env


def test_overrides_return_a_copy_and_leave_the_environment_in_force() -> None:
    before = get_env()
    copy = torchon.get_env(debug=True, resources={"data": "/d"})
    assert copy.debug is True and copy.resources == {"data": "/d"}
    assert get_env() is before and get_env().debug is False


def test_set_env_changes_it_for_the_process_and_returns_the_previous() -> None:
    previous = set_env(output_dir="/out", hosts=["a", "b"])
    assert get_env().output_dir == "/out" and get_env().hosts == ("a", "b")
    set_env(previous)
    assert get_env() is previous
    env = Environment(debug=True)
    set_env(env)
    assert get_env() is env


def test_unknown_fields_are_named() -> None:
    with pytest.raises(TypeError, match=r"unknown environment field\(s\) colour; known fields: "):
        get_env(colour="red")


def test_round_trips_through_a_dict() -> None:
    env = Environment(
        extensions={"e": "./e"}, resources={"r": "/r"}, output_dir="/o", hosts=("h1",), debug=True
    )
    assert Environment.from_dict(env.to_dict()) == env
    assert get_env().hosts, "the host running the process takes part by default"
