"""Components remember how they were built, round-trip through YAML, and follow the lifecycle; Saver's spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from torchon.component import Component, Partial, Runnable
from torchon.config import loads
from torchon.config.dump import DumpError, dump_yaml
from torchon.saver import Saver


class Layer(Component):
    def __init__(self, size: int, *extras: int, scale: float = 1.0, **options: Any) -> None:
        self.size = size
        self.extras = extras
        self.scale = scale
        self.options = options
        self.weights = [0.0] * size


class Net(Component):
    VERSION = 3

    def __init__(self, first: Layer, second: Layer, name: str = "net") -> None:
        self.first = first
        self.second = second
        self.name = name


def test_config_is_captured_from_python_keywords_and_positionals() -> None:
    layer = Layer(3, 7, 8, scale=2.0, colour="red")
    assert layer.get_config() == {"size": 3, "extras": [7, 8], "scale": 2.0, "colour": "red"}
    assert Layer(size=4).get_config() == {"size": 4}


def test_default_state_is_what_changed_after_init_less_arguments() -> None:
    layer = Layer(2)
    assert layer.get_state() == {}  # all of it set up by __init__ from the arguments: rebuilt on load
    layer.weights[1] = 5.0  # changed in place
    assert layer.get_state() == {"weights": [0.0, 5.0]}
    layer.set_state({"weights": [1.0, 2.0]})
    assert layer.weights == [1.0, 2.0]
    assert layer.get_state() == {"weights": [1.0, 2.0]}  # restored state stays state


def test_state_keeps_attributes_added_after_init_whatever_their_value() -> None:
    layer = Layer(3)
    layer.done = 3  # the same int object as the argument `size`: still state
    assert layer.get_state() == {"done": 3}


def test_an_invalid_report_changes_nothing() -> None:
    counter = Counter(limit=2)
    counter.report(step=1, loss=0.5)
    with pytest.raises(TypeError):
        counter.report(step=2, loss="high")
    assert counter.latest_metrics == {"loss": 0.5}


def test_upgrade_state_without_an_implementation_says_what_to_do() -> None:
    with pytest.raises(NotImplementedError, match=r"at VERSION 3 but has no upgrade from VERSION 1"):
        Net.upgrade_state({}, 1)


def test_component_built_in_python_writes_back_to_yaml_that_rebuilds_it(corpus_manager) -> None:
    import corpus_plugin as cp  # the test plugin's classes have registered tags

    encoder = cp.Encoder(dim=4)
    trainer = cp.Trainer(model=cp.Model(encoder=encoder, width=3), steps=5, extra={"e": 1}, tags=["x"])
    text = trainer.to_yaml()
    assert text.startswith("!Trainer\n")
    rebuilt = loads(text).build().root
    assert rebuilt.model.encoder.dim == 4 and rebuilt.model.width == 3 and rebuilt.steps == 5
    assert rebuilt.to_yaml() == text


def test_shared_objects_become_links_and_stay_shared(corpus_manager) -> None:
    import corpus_plugin as cp

    model = cp.Model(width=2)
    pair = cp.Pair(first=model, second=cp.Pair(first=model, second=[model]))
    text = pair.to_yaml()
    assert "!@ first" in text
    rebuilt = loads(text).build().root
    assert rebuilt.second.first is rebuilt.first and rebuilt.second.second[0] is rebuilt.first


def test_objects_built_from_a_config_keep_their_tags_when_dumped(corpus_manager) -> None:
    root = loads("!Pair\nfirst: !datetime.timedelta {days: 2}\nsecond: !Optim {params: [1.0]}\n").build().root
    text = root.to_yaml()
    assert "!datetime.timedelta" in text and "days: 2" in text
    assert loads(text).build().root.first.days == 2


def test_partials_dump_with_their_arguments(corpus_manager) -> None:
    root = loads("!Trainer\nmodel: !Model {}\noptimizer: !Optim {lr: 0.3}\n").build().root
    rebuilt = loads(root.to_yaml()).build().root
    assert isinstance(rebuilt.optimizer, Partial) and rebuilt.optimizer([]).lr == 0.3


def test_objects_without_a_config_cannot_be_dumped() -> None:
    with pytest.raises(DumpError, match="cannot be written as config"):
        dump_yaml(Net(first=Layer(1), second=object()))  # type: ignore[arg-type]


def test_header_is_written_as_a_first_document(corpus_manager) -> None:
    import corpus_plugin as cp

    text = dump_yaml(cp.Encoder(dim=2), header={"my_ext": "./ext"})
    assert text.startswith("my_ext: ./ext\n---")
    from torchon.config.yaml_loader import parse_documents

    header, root = parse_documents(text)
    assert header == {"my_ext": "./ext"} and root.tag == "Encoder" and root.kwargs == {"dim": 2}


def test_new_works_with_classes_whose_other_base_has_its_own_new() -> None:
    class Tagged(Component, str):
        def __new__(cls, value: str) -> Tagged:
            return super().__new__(cls, value)

    t = Tagged("abc")
    assert t == "abc" and t.get_config() == {"value": "abc"}


class Counter(Runnable):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def step(self) -> bool:
        self.count += 1
        self.report(step=self.count, count=self.count)
        return self.count < self.limit


class Once(Runnable):
    def run(self) -> None:
        self.ran = True


def test_run_loops_step_and_reports() -> None:
    counter = Counter(limit=4)
    counter.run()
    assert counter.count == 4 and counter.latest_metrics == {"count": 4}
    assert Counter.is_searchable() and not Once.is_searchable()


def test_runnable_without_step_or_run_says_so() -> None:
    class Empty(Runnable):
        pass

    with pytest.raises(NotImplementedError, match="must override run"):
        Empty().run()
    with pytest.raises(NotImplementedError, match="not searchable"):
        Once().step()


def test_saver_subclasses_must_declare_name_and_safety() -> None:
    with pytest.raises(TypeError, match="safety = 'data' or 'code'"):

        class NoSafety(Saver):
            name = "x"

            def save(self, obj, state, folder):  # type: ignore[no-untyped-def]
                return state

            def load(self, obj, state, folder):  # type: ignore[no-untyped-def]
                return state

    with pytest.raises(TypeError, match="non-empty string name"):

        class NoName(Saver):
            safety = "data"

            def save(self, obj, state, folder):  # type: ignore[no-untyped-def]
                return state

            def load(self, obj, state, folder):  # type: ignore[no-untyped-def]
                return state


def test_a_user_saver_is_a_few_lines(tmp_path: Path) -> None:
    import json
    import queue

    from torchon.bundle.files import ReadFolder, WriteFolder

    class QueueSaver(Saver):
        """Drops a queue.Queue on save and makes a fresh one on load (Neuraxle's example)."""

        name = "queue"
        safety = "data"

        def save(self, obj, state, folder):  # type: ignore[no-untyped-def]
            kept = {k: v for k, v in state.items() if not isinstance(v, queue.Queue)}
            folder.write_text("queues.json", json.dumps(sorted(set(state) - set(kept))))
            return kept

        def load(self, obj, state, folder):  # type: ignore[no-untyped-def]
            names = json.loads(folder.read_text("queues.json"))
            return {**state, **{n: queue.Queue() for n in names}}

    saver = QueueSaver()
    state = {"jobs": queue.Queue(), "count": 3}
    records: dict = {}
    stripped = saver.save(None, state, WriteFolder(tmp_path, "root/queue", records))
    assert stripped == {"count": 3} and set(records) == {"root/queue/queues.json"}
    restored = saver.load(None, stripped, ReadFolder(tmp_path, "root/queue", records, where="test"))
    assert isinstance(restored["jobs"], queue.Queue) and restored["count"] == 3
    assert QueueSaver.protocol == 1
