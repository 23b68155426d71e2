"""Installing a local project (``--install-extensions`` or ``install: true``) comes with torchon-extensions: the
kernel alone refuses it at the header line, names the plugin, and installs nothing; without installing, the same
folder is used from where it is, as the error's fix says.

The kernel's tests run with plugin autoload off, so these hold whether or not the plugin is installed."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from torchon.cli.main import main
from torchon.config import ConfigError, load_config

MODULE = "tlocal_noplugin_pkg"
PROJECT = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "tlocal-noplugin-pkg"\nversion = "0.3"\n'
    ),
    f"src/{MODULE}/__init__.py": (
        "import json\nfrom pathlib import Path\n\nimport torchon\n\n\n"
        "class Job(torchon.Runnable):\n"
        "    def run(self) -> None:\n"
        '        (Path(torchon.get_env().output_dir) / "seen.json").write_text(json.dumps("L"))\n'
    ),
}
HEADERS = {  # header -> (line, column) of the spec
    "flag": (f"{MODULE}: ./proj", (1, len(MODULE) + 3)),
    "install: true": (f"!Environment\nextensions:\n  {MODULE}: ./proj\ninstall: true", (3, len(MODULE) + 5)),
}


def _project(tmp_path: Path, header: str) -> tuple[Path, list[Path]]:
    """The config and its project folder; also what the folder holds, to show nothing was built in it."""
    for name, text in PROJECT.items():
        (tmp_path / "proj" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "proj" / name).write_text(text)
    config = tmp_path / "exp.yaml"
    config.write_text(f"{header}\n---\n!{MODULE}.Job {{}}\n")
    return config, sorted((tmp_path / "proj").rglob("*"))


def _nothing_installed(tmp_path: Path, before: list[Path]) -> None:
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("tlocal-noplugin-pkg")
    assert MODULE not in sys.modules and importlib.util.find_spec(MODULE) is None
    assert sorted((tmp_path / "proj").rglob("*")) == before  # no egg-info, no build folder
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", sorted(HEADERS))
def test_installing_a_local_project_without_the_plugin_names_torchon_extensions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    header, (line, col) = HEADERS[how]
    config, before = _project(tmp_path, header)
    flags = ["--install-extensions"] if how == "flag" else []
    what = (
        f"extension {MODULE!r}: installing a local project (--install-extensions / install: true) comes with the "
        "torchon-extensions plugin, which is not installed or not loaded"
    )
    fix = (
        "install torchon-extensions (pip install torchon-extensions), or check that -p or TORCHON_DENY_PLUGINS "
        "does not leave it out; or, to use the folder from where it is, run without --install-extensions (and "
        "without install: true in the header)"
    )

    with pytest.raises(ConfigError) as info:
        load_config(config, install=bool(flags))
    assert info.value.what == what and info.value.fix == fix
    assert info.value.mark is not None and (info.value.mark.line, info.value.mark.col) == (line, col)

    assert main(["run", str(config), *flags, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{config}:{line}:{col}: error: {what}\n"), err
    assert f"  fix: {fix}" in err and "Traceback" not in err
    _nothing_installed(tmp_path, before)


def test_without_installing_the_project_folder_is_used_from_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = _project(tmp_path, HEADERS["flag"][0])
    try:
        assert main(["run", str(config), "-o", str(tmp_path / "run")]) == 0, capsys.readouterr().err
        assert json.loads((tmp_path / "run" / "seen.json").read_text()) == "L"
        lock = json.loads((tmp_path / "run" / "torchon.lock").read_text())
        entry = lock["extensions"][MODULE]
        assert (entry["kind"], entry["spec"], entry["path"]) == ("local", "./proj", str(tmp_path / "proj"))
        assert "distribution" not in entry  # put on the import path, not installed
    finally:
        sys.modules.pop(MODULE, None)
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("tlocal-noplugin-pkg")
