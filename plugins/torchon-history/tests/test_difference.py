"""``difference``: the overrides that turn one parsed config tree into another, checked by applying them."""

from __future__ import annotations

import pytest

from torchon.config.dump import emit_nodes
from torchon.config.yaml_loader import parse_documents
from torchon_history.difference import difference
from torchon_overrides.overrides import apply_overrides, parse_overrides

CONFIG = """\
ext: ./ext.py
---
!ext.Job
part: !ext.Part {size: &size 4, kind: b}
parts:
  - !ext.Part {size: 1}
  - !ext.Part {size: *size}
lr: 0.1
name: first
options: {width: *size, depth: 2}
tags: [x, y]
"""


@pytest.mark.parametrize(
    "changes",
    [
        [],
        ["lr=0.003", "part.kind=c"],
        ["~tags", "+part.link=!@ parts[0]", "name='0.5'"],
        ["+parts[2]=!ext.Part {size: 9}", "~parts[0]", "options={a: 1}"],
        ["part=!ext.Part", "tags=[z]", "+options.extra=3"],
        ["parts=[]", "~options"],
    ],
)
def test_difference_gives_the_overrides_that_turn_one_tree_into_the_other(changes: list[str]) -> None:
    def tree() -> object:
        return parse_documents(CONFIG)[-1]

    before, after = tree(), tree()
    apply_overrides(after, parse_overrides(changes))
    found = difference(before, after)
    assert (found == []) == (changes == [])
    apply_overrides(before, parse_overrides(found))
    assert emit_nodes(before) == emit_nodes(after)
