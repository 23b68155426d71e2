"""Installing a local extension as a user would: `torchon run --install-extensions` in a throwaway venv installs a
local project editable. (Git and PyPI specs are torchon-extensions': plugins/torchon-extensions/tests/test_install.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Venv, project_files

BODY = """\
import json
from pathlib import Path

import torchon

VALUE = {value!r}


class Job(torchon.Runnable):
    def run(self) -> None:
        (Path(torchon.get_env().output_dir) / "seen.json").write_text(json.dumps(VALUE))
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(module_tmp: Path) -> Venv:
    return Venv(module_tmp / "venv", module_tmp / "wheels", module_tmp / "cache")


def _run(venv: Venv, folder: Path, header: str, out: str, *flags: str) -> tuple[int, str, str, dict]:
    """(exit status, stderr, what the extension's Job saw, the lock) of `torchon run exp.yaml -o OUT FLAGS`."""
    module = (
        header.split(":", 1)[0].strip()
        if "!Environment" not in header
        else header.split("{")[1].split(":")[0]
    )
    (folder / "exp.yaml").write_text(f"{header}\n---\n!{module}.Job {{}}\n")
    proc = venv.torchon("run", "exp.yaml", "-o", out, *flags, cwd=folder)
    if proc.returncode != 0:
        return proc.returncode, proc.stderr, "", {}
    seen = json.loads((folder / out / "seen.json").read_text())
    return proc.returncode, proc.stderr, seen, json.loads((folder / out / "torchon.lock").read_text())


def test_local_project_is_installed_editable(venv: Venv, tmp_path: Path) -> None:
    for name, text in project_files("locproj", "locpkg", "loc-pkg", "0.3", BODY.format(value="L")).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    code, err, seen, lock = _run(venv, tmp_path, "locpkg: ./locproj", "o", "--install-extensions")
    assert (code, seen) == (0, "L"), err
    assert lock["extensions"]["locpkg"]["distribution"] == "loc-pkg"
    direct = next(venv.site_packages.glob("loc_pkg-0.3.dist-info")) / "direct_url.json"
    assert json.loads(direct.read_text())["dir_info"] == {"editable": True}
