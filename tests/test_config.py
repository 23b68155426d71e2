"""Configs that load and build: tags, factories, links, value tags, partials, headers, extensions, YAML safety."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from torchon.component import Partial
from torchon.config import ConfigError, load_config, loads
from torchon.config.nodes import Index, parse_link_path

TESTS = Path(__file__).parent
EXTS = TESTS / "corpus" / "exts"


def build(text: str, **kwargs):  # type: ignore[no-untyped-def]
    return loads(textwrap.dedent(text), **kwargs).build()


def test_nested_components_and_plain_values(corpus_manager) -> None:
    built = build(
        """
        !Trainer
        model: !Model
          encoder: !Encoder {dim: 4, activation: tanh}
          width: 3
          dropout: 0.5
        steps: 2
        tags: [a, b]
        extra: {x: 1}
        """
    )
    trainer = built.root
    assert type(trainer).__name__ == "Trainer"
    assert trainer.model.encoder.dim == 4 and trainer.model.encoder.activation == "tanh"
    assert trainer.model.width == 3 and trainer.model.dropout == 0.5
    assert trainer.tags == ["a", "b"] and type(trainer.tags) is list
    assert trainer.extra == {"x": 1} and type(trainer.extra) is dict
    assert [type(c).__name__ for c in built.components] == ["Encoder", "Model", "Trainer"]


def test_int_is_accepted_where_float_is_hinted(corpus_manager) -> None:
    assert build("!Trainer\nmodel: !Model {dropout: 1}\n").root.model.dropout == 1


def test_sequence_and_scalar_forms_give_positional_arguments(corpus_manager) -> None:
    root = build("!Trainer\nmodel: !Model\n  encoder: !Encoder [5, tanh]\nsteps: 1\n").root
    assert (root.model.encoder.dim, root.model.encoder.activation) == (5, "tanh")
    assert build("!Trainer\nmodel: !Model\n  encoder: !Encoder 7\n").root.model.encoder.dim == 7


def test_factory_with_and_without_trailing_colon(corpus_manager) -> None:
    a = build("!Trainer\nmodel: !Model.load_from_path {path: abcd}\n").root
    b = build("!Trainer\nmodel: !Model.load_from_path:\n  path: abcdef\n").root
    assert a.model.width == 4 and b.model.width == 6


def test_namespace_classes(corpus_manager) -> None:
    import datetime

    root = build("!Pair\nfirst: !Model {}\nsecond: !datetime.timedelta {days: 2}\n").root
    assert root.second == datetime.timedelta(days=2)


def test_value_tags_and_aliases(corpus_manager) -> None:
    root = build("!Trainer\nmodel: !Model {width: !double 3}\nsteps: !dbl 2\n").root
    assert root.model.width == 6 and root.steps == 4


def test_partial_parameters_get_a_partial(corpus_manager) -> None:
    root = build("!Trainer\nmodel: !Model {}\noptimizer: !Optim {lr: 0.5}\nschedule: !Optim {lr: 0.1}\n").root
    assert isinstance(root.optimizer, Partial) and isinstance(root.schedule, Partial)
    optim = root.optimizer([1.0, 2.0])
    assert optim.params == [1.0, 2.0] and optim.lr == 0.5
    assert root.optimizer([3.0], lr=0.9).lr == 0.9


def test_missing_argument_is_an_error_outside_partial_slots(corpus_manager) -> None:
    with pytest.raises(ConfigError, match="missing required argument"):
        loads("!Pair {first: !Optim {lr: 0.5}, second: 1}\n")


def test_links_share_objects_and_read_attributes(corpus_manager) -> None:
    root = build(
        """
        !Trainer
        model: !Model
          encoder: !Encoder {dim: 3}
          width: 4
        extra:
          width: !@ model.width
          hidden: !@ model.hidden
          dim: !@ model.encoder.dim
          first_tag: !@ tags[0]
        tags: [x, y]
        schedule: !@ model.encoder
        """
    ).root
    assert root.extra == {"width": 4, "hidden": 8, "dim": 3, "first_tag": "x"}
    assert root.schedule is root.model.encoder


def test_link_lookup_is_lexical_and_skips_its_own_entry(corpus_manager) -> None:
    root = build(
        """
        !Pair
        first: !Model {width: 2}
        second: !Pair
          first: !@ first
          second: !Model {width: 5}
        """
    ).root
    assert root.second.first is root.first
    inner = build(
        """
        !Pair
        first: !Model {width: 2}
        second: !Pair
          first: !Model {width: 7}
          second: !@ first
        """
    ).root
    assert inner.second.second is inner.second.first  # the nearer `first` wins


def test_link_to_a_link_and_into_an_extension_object(corpus_manager) -> None:
    root = build(
        """
        !Trainer
        model: !Model {width: 3}
        extra:
          a: !@ model
          b: !@ extra.a
        """
    ).root
    assert root.extra["a"] is root.model and root.extra["b"] is root.model


def test_yaml_aliases_share_one_object(corpus_manager) -> None:
    root = build("!Pair\nfirst: &m !Model {width: 2}\nsecond: *m\n").root
    assert root.first is root.second


def test_link_to_a_value_built_later_in_the_file(corpus_manager) -> None:
    root = build("!Pair\nfirst: !@ second.encoder\nsecond: !Model {encoder: !Encoder {dim: 1}}\n").root
    assert root.first is root.second.encoder


def test_link_attribute_checked_after_build(corpus_manager) -> None:
    with pytest.raises(ConfigError, match=r"link !@ first\[nope\]"):
        build("!Pair\nfirst: !Model {}\nsecond: !@ first[nope]\n")


def test_parse_link_path() -> None:
    assert parse_link_path("a.b[0][key].c") == ["a", "b", Index(0), Index("key"), "c"]
    assert parse_link_path("train.model.encoder") == ["train", "model", "encoder"]
    assert parse_link_path("a..b") is None
    assert parse_link_path("[0]") is None
    assert parse_link_path("") is None


def test_header_plain_mapping_declares_local_extension(corpus_manager, tmp_path: Path) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"good_ext: {EXTS / 'folder_with_pkg'}\n---\n!good_ext.Thing {{size: 3}}\n")
    config = load_config(cfg)
    assert [e.name for e in config.extensions] == ["good_ext"]
    assert config.extensions[0].kind == "local"
    assert config.resolved[0].path == str((EXTS / "folder_with_pkg").resolve())
    assert config.build().root.size == 3


def test_environment_header_with_extensions_and_resources(corpus_manager, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        "!Environment\n"
        f"extensions: {{good_ext: {EXTS / 'folder_with_pkg'}}}\n"
        "resources: {data: ./data, remote: 's3://bucket/x'}\n"
        "debug: true\n"
        "---\n!good_ext.Thing {}\n"
    )
    config = load_config(cfg)
    assert config.resources == {"data": str((tmp_path / "data").resolve()), "remote": "s3://bucket/x"}
    assert config.debug is True
    from torchon.env import Environment

    env = config.environment(Environment())
    assert env.extensions == {"good_ext": str(EXTS / "folder_with_pkg")}
    assert env.resources["data"] == str((tmp_path / "data").resolve())


def test_environment_header_names_the_tracker_and_the_command_line_wins(corpus_manager) -> None:
    from torchon.env import Environment

    config = loads("!Environment {track: MLflow}\n---\n!Encoder {dim: 1}\n")
    assert config.environment(Environment()).extra == {"track": "mlflow"}
    assert config.environment(Environment(extra={"track": "none"})).extra == {"track": "none"}  # --track none
    with pytest.raises(ConfigError) as info:
        loads("!Environment {track: 3}\n---\n!Encoder {dim: 1}\n", "exp.yaml")
    assert str(info.value.mark) == "exp.yaml:1:22" and "track must name a tracker" in info.value.what


@pytest.mark.parametrize("layout", ["package-folder", "src-layout", "single-file", "folder-with-package"])
def test_local_extension_layouts(layout: str, corpus_manager, tmp_path: Path) -> None:
    name = f"ext_{layout.replace('-', '_')}"
    body = "from torchon.component import Component\n\nclass Widget(Component):\n    def __init__(self, n: int = 1):\n        self.n = n\n"
    if layout == "package-folder":
        (tmp_path / "anyname").mkdir()
        (tmp_path / "anyname" / "__init__.py").write_text(body)
        spec = "./anyname"
    elif layout == "src-layout":
        (tmp_path / "proj" / "src" / name).mkdir(parents=True)
        (tmp_path / "proj" / "src" / name / "__init__.py").write_text(body)
        spec = "./proj"
    elif layout == "single-file":
        (tmp_path / "w.py").write_text(body)
        spec = "./w.py"
    else:
        (tmp_path / "proj" / name).mkdir(parents=True)
        (tmp_path / "proj" / name / "__init__.py").write_text(body)
        spec = "./proj"
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"{name}: {spec}\n---\n!Pair\nfirst: !{name}.Widget {{n: 4}}\nsecond: 0\n")
    try:
        assert load_config(cfg).build().root.first.n == 4
    finally:
        sys.modules.pop(name, None)


def test_extension_submodule_classes(corpus_manager, tmp_path: Path) -> None:
    pkg = tmp_path / "deep_ext"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text(
        "class Net:\n    def __init__(self, k: int = 0):\n        self.k = k\n\n"
        "    @classmethod\n    def small(cls):\n        return cls(k=1)\n"
    )
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        "deep_ext: ./deep_ext\n---\n!Pair\nfirst: !deep_ext.models.Net {k: 2}\nsecond: !deep_ext.models.Net.small {}\n"
    )
    try:
        root = load_config(cfg).build().root
        assert root.first.k == 2 and root.second.k == 1
    finally:
        for mod in ("deep_ext", "deep_ext.models"):
            sys.modules.pop(mod, None)


def test_parsing_does_not_leak_constructors_into_other_yaml_users(corpus_manager) -> None:
    loads("!Trainer {model: !Model {}}\n")
    from ruamel.yaml.constructor import ConstructorError

    with pytest.raises(ConstructorError):
        YAML(typ="safe").load("!Model {}\n")
    assert YAML(typ="safe").load("a: [1, 2]\n") == {"a": [1, 2]}


def test_yaml_types_keep_implicit_typing(corpus_manager) -> None:
    root = build(
        "!Pair\nfirst: {i: 1, f: 1.5, b: true, n: null, s: '1', e: 1e-3, h: 0x10}\nsecond: !Encoder 3\n"
    ).root
    assert root.first == {"i": 1, "f": 1.5, "b": True, "n": None, "s": "1", "e": 0.001, "h": 16}


def test_errors_carry_file_line_column_and_the_source_line(corpus_manager) -> None:
    with pytest.raises(ConfigError) as info:
        loads("!Trainer\nmodel: !Modle {}\n", "exp.yaml")
    err = info.value
    assert str(err.mark) == "exp.yaml:2:8"
    text = err.format()
    assert text.splitlines()[0].startswith(
        "exp.yaml:2:8: error: !Modle is not a known tag (did you mean !Model?)"
    )
    assert "    2 | model: !Modle {}" in text and "fix:" in text
