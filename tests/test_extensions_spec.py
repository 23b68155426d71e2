"""Reading extension specs: which kind a header line is (no git, no network). How a git spec comes apart is
torchon-extensions' (plugins/torchon-extensions/tests/test_gitspec.py)."""

from __future__ import annotations

import pytest

from torchon.extensions import classify_spec


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("./ext", "local"),
        ("../ext", "local"),
        ("/abs/ext", "local"),
        ("~/ext", "local"),
        ("sub/ext", "local"),
        ("pkg==1.0", "pypi"),
        ("pkg>=1,<2", "pypi"),
        ("pkg", "pypi"),
        ("https://host/user/repo.git", "git"),
        ("https://github.com/user/repo/tree/dev/sub", "git"),
        ("ssh://git@host/user/repo.git@v1", "git"),
        ("git@host:user/repo.git", "git"),
        ("file:///srv/repo", "git"),
        ("./repos/ext.git", "git"),
        ("/srv/repos/ext.git@v1#subdirectory=pkg", "git"),
        ("git+/srv/repos/ext@main", "git"),
        ("local+ext_dir", "local"),
    ],
)
def test_classify(spec: str, kind: str) -> None:
    assert classify_spec(spec)[0] == kind
