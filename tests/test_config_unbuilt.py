"""``Unbuilt`` parameters receive their config nodes unbuilt; value tags' ConfigErrors get the tag's position."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from torchon.config import ConfigError, TagNode, Unbuilt, loads

EXT = """
import torchon
from torchon.config import ConfigError, Unbuilt


class Boom(torchon.Component):
    def __init__(self) -> None:
        raise AssertionError("built, but it should not have been")


class Holder(torchon.Runnable):
    def __init__(self, inner: Unbuilt, label: str = "") -> None:
        self.inner, self.label = inner, label

    def run(self) -> None:
        pass


class Later(torchon.Runnable):
    def __init__(self, inner: Unbuilt | None = None) -> None:
        self.inner = inner

    def run(self) -> None:
        pass
"""


@pytest.fixture
def ext(tmp_path: Path) -> Path:
    (tmp_path / "unb").mkdir()
    (tmp_path / "unb" / "__init__.py").write_text(textwrap.dedent(EXT))
    sys.modules.pop("unb", None)
    return tmp_path / "unb"


def test_unbuilt_arguments_are_passed_as_nodes(ext: Path) -> None:
    config = loads(f"unb: {ext}\n---\n!unb.Holder\ninner: !unb.Boom {{}}\nlabel: x\n", "c.yaml")
    root = config.build().root
    assert isinstance(root.inner, Unbuilt) and root.inner.config is config
    assert isinstance(root.inner.node, TagNode) and root.inner.node.label == "!unb.Boom"
    assert root.label == "x"
    positional = loads(f"unb: {ext}\n---\n!unb.Later [!unb.Boom {{}}]\n", "c.yaml").build().root
    assert isinstance(positional.inner, Unbuilt)


def test_a_value_tags_error_gets_the_tags_position(ext: Path) -> None:
    from torchon.config.build import TreeBuilder
    from torchon.config.nodes import TagNode as Node

    def refuse(value: object) -> object:
        raise ConfigError("no", None, fix="f")

    node = Node("nope", [1], "sequence", None)  # type: ignore[arg-type]
    node.kind, node.target, node.path = "value", refuse, "a.b"
    from torchon.config.errors import Mark

    node.mark = Mark("c.yaml", 3, 7)
    with pytest.raises(ConfigError) as info:
        TreeBuilder().build(node)
    assert (info.value.mark, info.value.path) == (Mark("c.yaml", 3, 7), "a.b")
    assert str(info.value).startswith("c.yaml:3:7: error: no (at a.b)")
