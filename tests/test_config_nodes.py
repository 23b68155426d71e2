"""The one tree walker (``torchon.config.nodes``): what ``contents``, ``children`` and ``walk`` see of a parsed config."""

from __future__ import annotations

from torchon.config.nodes import CList, CMap, LinkNode, TagNode, children, contents, walk
from torchon.config.yaml_loader import parse_documents

TEXT = """\
!Outer
model: &m !Model [1, !@ other]
copies: [*m, {k: v}]
scalar: !Name 3
"""


def test_contents_split_each_shape_as_a_calls_arguments() -> None:
    root = parse_documents(TEXT, "exp.yaml")[-1]
    model = root.kwargs["model"]
    assert contents(root) == ([], root.kwargs) and list(root.kwargs) == ["model", "copies", "scalar"]
    positional, named = contents(model)
    assert positional[0] == 1 and isinstance(positional[1], LinkNode) and not named
    copies = root.kwargs["copies"]
    assert contents(copies) == (copies, {}) and isinstance(copies, CList)
    assert contents(copies[1]) == ((), {"k": "v"}) and isinstance(copies[1], CMap)
    assert contents(root.kwargs["scalar"]) == ([3], {})  # a scalar tag's one argument
    for plain in (1, "text", None, LinkNode("x", ["x"], model.mark)):
        assert contents(plain) == ((), {}) and children(plain) == []
    assert children(model) == [1, positional[1]]


def test_walk_gives_every_node_once_before_what_it_holds_and_no_plain_values() -> None:
    root = parse_documents(TEXT, "exp.yaml")[-1]
    seen = list(walk(root))
    model, copies = root.kwargs["model"], root.kwargs["copies"]
    assert seen == [root, model, model.args[1], copies, copies[1], root.kwargs["scalar"]]  # the alias once
    assert all(isinstance(n, (TagNode, LinkNode, CMap, CList)) for n in seen)
    assert list(walk(7)) == [7]  # the value itself, whatever it is
