"""The state rule: what ``__init__`` set up from its arguments is rebuilt by ``__init__``; what changed after is saved."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import torchon
from torchon.bundle import SaveError

np = pytest.importorskip("numpy")


@pytest.fixture
def classes(corpus_manager: Any) -> Any:
    import construction_classes

    return construction_classes


@pytest.fixture
def artifacts(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "vocab.txt").write_text("good bad film plot\n")
    np.save(tmp_path / "weights.npy", np.array([1.0, -1.0, 0.5, 0.25]))
    return {"vocab": str(tmp_path / "vocab.txt"), "weights": str(tmp_path / "weights.npy")}


def test_what_init_made_of_its_arguments_is_not_state(classes: Any, artifacts: dict[str, str]) -> None:
    model = classes.VocabModel(artifacts)
    assert model.get_state() == {}
    model.predict(["good film"])
    assert model.get_state() == {"calls": 1}


def test_a_verta_class_model_saves_and_loads_without_get_state(
    classes: Any, artifacts: dict[str, str], tmp_path: Path
) -> None:
    model = classes.VocabModel(artifacts)
    expected = model.predict(["good film", "bad plot"])
    torchon.save(model, tmp_path / "bundle")
    assert not list(
        (tmp_path / "bundle" / "state").rglob("*.npy")
    )  # the array came from the artifact, not saved
    np.save(artifacts["weights"], np.array([9.0, 9.0, 9.0, 9.0]))  # a plain path: read again on load
    loaded = torchon.load(tmp_path / "bundle")
    assert (
        loaded.weights.tolist() == [9.0] * 4
    )  # rebuilt by __init__ (with !artifact, from the bundle's copy)
    np.save(artifacts["weights"], np.array([1.0, -1.0, 0.5, 0.25]))
    loaded = torchon.load(tmp_path / "bundle")
    assert loaded.predict(["good film", "bad plot"]) == expected
    assert loaded.calls == 2 and loaded.words == {"good", "bad", "film", "plot"}
    assert isinstance(loaded.lock, type(threading.Lock()))


def test_changes_in_place_are_state_each_kind(classes: Any) -> None:
    pipeline = classes.Pipeline()
    assert pipeline.get_state() == {}
    pipeline.table[1] = 4.0
    pipeline.history.append({"loss": 0.5})
    pipeline.seen.add("a")
    pipeline.options["levels"].append(3)  # nested
    state = pipeline.get_state()
    assert set(state) == {"table", "history", "seen", "options"}
    assert state["table"].tolist() == [0.0, 4.0, 0.0]
    assert state["options"] == {"mode": "fast", "levels": [1, 2, 3]}


def test_a_rebound_attribute_is_state_even_with_an_equal_value(classes: Any) -> None:
    pipeline = classes.Pipeline()
    pipeline.table = np.zeros(3)
    assert set(pipeline.get_state()) == {"table"}


def test_an_object_that_gained_attributes_is_state_and_an_error_names_it(
    classes: Any, tmp_path: Path
) -> None:
    pipeline = classes.Pipeline()
    assert "estimator" not in pipeline.get_state()
    pipeline.estimator.fit()
    assert set(pipeline.get_state()) == {"estimator"}
    with pytest.raises(
        SaveError, match=r"attribute estimator \(Estimator\) was set or changed after __init__"
    ):
        torchon.save(pipeline, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_objects_with_a_state_dict_are_always_state(classes: Any) -> None:
    assert set(classes.Holder().get_state()) == {"module"}


def test_the_snapshot_is_taken_when_the_outermost_init_returns(classes: Any) -> None:
    derived = classes.Derived(3)
    assert derived.get_state() == {}
    derived.values[0] = 9
    assert derived.get_state() == {"values": [9, 0, 0]}


def test_attributes_set_after_construction_are_state(classes: Any) -> None:
    pipeline = classes.Pipeline()
    pipeline.cache = {"k": 1}
    assert pipeline.get_state() == {"cache": {"k": 1}}


def test_a_float_replaced_many_times_is_state_whatever_addresses_it_gets(classes: Any) -> None:
    """Floats are recycled by CPython's allocator: a new value can land at the address of the one __init__ set."""
    for _ in range(20):
        schedule = classes.Schedule(0.5)
        for _ in range(30):
            schedule.current = schedule.current * 0.9
            assert schedule.get_state() == {"current": schedule.current}


def test_a_replaced_array_is_not_kept_alive(classes: Any) -> None:
    import gc
    import weakref

    pipeline = classes.Pipeline(size=1000)
    original = weakref.ref(pipeline.table)
    pipeline.table = np.ones(1000)
    gc.collect()
    assert original() is None and set(pipeline.get_state()) == {"table"}
