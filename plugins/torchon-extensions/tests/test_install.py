"""Installing extensions as a user would: `torchon run --install-extensions` and `--locked`, in a throwaway venv.

PyPI specs install from a folder of wheels built here (pip offline); git specs whose folder is a project are
pip-installed from torchon's cache; a local project folder is installed editable. One venv for the whole module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchon_extensions.testing import GitRepo, Venv, build_wheel, project_files

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
    """The venv, with wheels of tx-alpha 1.0, 1.1 and 2.0, tx-beta 1.0 (module tx_other), tx-gamma 1.0."""
    wheelhouse = module_tmp / "wheels"
    env = Venv(module_tmp / "venv", wheelhouse, module_tmp / "cache")
    sources = module_tmp / "sources"
    for dist, module, version in [
        ("tx-alpha", "tx_alpha", "1.0"),
        ("tx-alpha", "tx_alpha", "1.1"),
        ("tx-alpha", "tx_alpha", "2.0"),
        ("tx-beta", "tx_other", "1.0"),
        ("tx-gamma", "tx_gamma", "1.0"),
    ]:
        folder = f"{dist}-{version}"
        for name, text in project_files(folder, module, dist, version, BODY.format(value=version)).items():
            (sources / name).parent.mkdir(parents=True, exist_ok=True)
            (sources / name).write_text(text)
        build_wheel(env, sources / folder, wheelhouse)
    return env


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


def test_pypi_specs_install_a_version_range_and_the_lock_replays_the_version(
    venv: Venv, tmp_path: Path
) -> None:
    header = "tx_alpha: tx-alpha>=1,<2"
    code, err, _, _ = _run(venv, tmp_path, header, "o1")
    assert code == 2
    assert err.startswith(
        "exp.yaml:1:11: error: extension 'tx_alpha' ('tx-alpha>=1,<2' from PyPI) is not installed"
    )
    assert "run with --install-extensions to install it" in err
    code, err, seen, lock = _run(venv, tmp_path, header, "o2", "--install-extensions")
    assert code == 0 and seen == "1.1", err  # the newest in the range
    assert lock["extensions"]["tx_alpha"] == {
        "name": "tx_alpha",
        "kind": "pypi",
        "spec": "tx-alpha>=1,<2",
        "version": "1.1",
        "distribution": "tx-alpha",
    }
    assert lock["distributions"]["tx-alpha"] == "1.1"
    assert list(venv.site_packages.glob("tx_alpha-1.1.dist-info")), "installed into the venv"
    # an installed version that satisfies the spec is used as it is: no upgrade behind the user's back
    venv.pip("install", "--quiet", "tx-alpha==1.0")
    assert _run(venv, tmp_path, header, "o3", "--install-extensions")[2] == "1.0"
    # the lock installs exactly what it records
    code, err, seen, replay = _run(venv, tmp_path, header, "o4", "--locked", "o2/torchon.lock")
    assert (code, seen) == (0, "1.1"), err
    assert replay["extensions"] == lock["extensions"]


def test_pypi_spec_that_cannot_be_satisfied_is_a_clear_error(venv: Venv, tmp_path: Path) -> None:
    code, err, _, _ = _run(venv, tmp_path, "tx_alpha: tx-alpha>=3", "o", "--install-extensions")
    assert code == 2
    first = err.strip().splitlines()[-4]
    assert first.startswith(
        "exp.yaml:1:11: error: extension 'tx_alpha': pip could not install 'tx-alpha>=3': "
    )
    assert "Could not find a version that satisfies the requirement tx-alpha>=3" in first
    assert "1.0, 1.1, 2.0" in first
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_pypi_key_must_be_the_packages_module(venv: Venv, tmp_path: Path) -> None:
    code, err, _, _ = _run(venv, tmp_path, "wrong: tx-beta==1.0", "o", "--install-extensions")
    assert code == 2
    assert (
        "exp.yaml:1:8: error: extension 'wrong': package tx-beta provides modules tx_other, not 'wrong'"
        in err
    )
    assert "write `tx_other: tx-beta==1.0`" in err


def test_install_true_in_the_environment_header(venv: Venv, tmp_path: Path) -> None:
    header = "!Environment\nextensions: {tx_gamma: tx-gamma==1.0}\ninstall: true"
    code, err, seen, _ = _run(venv, tmp_path, header, "o")
    assert (code, seen) == (0, "1.0"), err


def test_git_project_folders_are_pip_installed_at_the_commit_and_replayed(venv: Venv, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    a = repo.commit(project_files("ext", "gitpkg", "git-ext", "1.0", BODY.format(value="A")), "A")
    repo.git("tag", "v1")
    header = f"gitpkg: file://{repo.path}@main#subdirectory=ext"
    assert _run(venv, tmp_path, header, "o1")[0] == 2
    code, err, seen, first = _run(venv, tmp_path, header, "o2", "--install-extensions")
    assert (code, seen) == (0, "A"), err
    entry = first["extensions"]["gitpkg"]
    assert (entry["commit"], entry["distribution"], entry["version"]) == (a, "git-ext", "1.0")
    assert first["distributions"]["git-ext"] == "1.0"
    # installed now: later runs use it without the flag, knowing its commit
    code, err, seen, again = _run(venv, tmp_path, header, "o3")
    assert (code, seen) == (0, "A") and again["extensions"]["gitpkg"]["commit"] == a, err
    # the branch moves on: --install-extensions fetches and installs the new head
    b = repo.commit(project_files("ext", "gitpkg", "git-ext", "1.1", BODY.format(value="B")), "B")
    code, err, seen, second = _run(venv, tmp_path, header, "o4", "--install-extensions")
    assert (code, seen) == (0, "B"), err
    assert (second["extensions"]["gitpkg"]["commit"], second["distributions"]["git-ext"]) == (b, "1.1")
    # a tag spec must match what is installed
    code, err, _, _ = _run(venv, tmp_path, header.replace("@main", "@v1"), "o5")
    assert code == 2 and f"is installed from file://{repo.path} at {b[:12]}, but 'v1' is {a[:12]}" in err
    # the first lock puts the old commit back
    code, err, seen, replay = _run(venv, tmp_path, header, "o6", "--locked", "o2/torchon.lock")
    assert (code, seen) == (0, "A"), err
    assert replay["extensions"] == first["extensions"]


def test_local_project_is_installed_editable(venv: Venv, tmp_path: Path) -> None:
    for name, text in project_files("locproj", "locpkg", "loc-pkg", "0.3", BODY.format(value="L")).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    code, err, seen, lock = _run(venv, tmp_path, "locpkg: ./locproj", "o", "--install-extensions")
    assert (code, seen) == (0, "L"), err
    assert lock["extensions"]["locpkg"]["distribution"] == "loc-pkg"
    direct = next(venv.site_packages.glob("loc_pkg-0.3.dist-info")) / "direct_url.json"
    assert json.loads(direct.read_text())["dir_info"] == {"editable": True}
