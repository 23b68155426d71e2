"""What the kernel alone says when a config or a command needs one of torchon's own plugins that is not there:
a git or PyPI spec in a header, and ``torchon new``, name torchon-extensions and how to install it; a bundle saved
with ``npy`` or ``joblib``, and a numpy array to save, name torchon-numpy.

The kernel's tests run with plugin autoload off, so these hold whether or not the plugin is installed."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import torchon
from torchon.bundle import BundleError, SaveError
from torchon.cli.main import main
from torchon.config import ConfigError, load_config
from torchon.first_party import FIRST_PARTY


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("https://github.com/user/repo/tree/dev/sub", "git"),
        ("file:///srv/repos/gext.git@v1#subdirectory=pkg", "git"),
        ("git-ext==1.0", "pypi"),
        ("pypi+git-ext", "pypi"),
    ],
)
def test_a_git_or_pypi_header_without_the_plugin_says_to_install_torchon_extensions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, kind: str
) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(f"# extensions\ngext: {spec}\n---\n!gext.Thing {{}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    error = info.value
    assert error.mark is not None and (error.mark.line, error.mark.col) == (2, 7)
    assert error.what.startswith(f"extension 'gext': no resolver for {kind!r} specs")
    assert "torchon-extensions" in error.what
    assert error.fix is not None and "pip install torchon-extensions" in error.fix

    assert main(["run", str(config), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{config}:2:7: error: extension 'gext': no resolver for {kind!r} specs")
    assert "fix: install torchon-extensions (pip install torchon-extensions)" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_an_unknown_kind_still_lists_the_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text("gext: hg+https://host/repo\n---\n!gext.Thing {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "no resolver for 'hg' specs" in info.value.what
    assert info.value.fix is not None and "known kinds: local" in info.value.fix
    assert "torchon-extensions" not in info.value.fix


def test_torchon_new_without_the_plugin_says_to_install_torchon_extensions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["new", "my_ext", "--no-input"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "torchon: error: unknown command 'new': it comes from the torchon-extensions plugin; install it "
        "(pip install torchon-extensions), or check that -p or TORCHON_DENY_PLUGINS does not leave it out"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("command", "dist"), sorted(FIRST_PARTY["commands"].items()))
def test_every_first_party_command_names_its_plugin(
    command: str, dist: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 2
    assert f"it comes from the {dist} plugin; install it (pip install {dist})" in capsys.readouterr().err


def test_a_command_no_plugin_registers_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["nope"])
    assert info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(("saver", "dist"), sorted(FIRST_PARTY["savers"].items()))
def test_a_bundle_saved_with_a_first_party_saver_names_its_plugin(
    saver: str, dist: str, tmp_path: Path, corpus_manager: Any
) -> None:
    from bundle_classes import Counter

    counter = Counter()
    counter.total = 7
    torchon.save(counter, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    claim = {"name": saver, "safety": "data", "protocol": 1, "distribution": "torchon", "version": "0.1.0"}
    manifest["nodes"][0]["savers"].append(claim)  # as torchon 0.1.0 recorded its own npy and joblib
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as info:
        torchon.load(tmp_path / "b", trust=True)
    assert str(info.value).endswith(
        f": (top): saver {saver!r} is not installed (known: json); install {dist} (pip install {dist})"
    )


def test_a_class_listing_joblib_names_torchon_numpy(tmp_path: Path, corpus_manager: Any) -> None:
    from bundle_classes import JoblibRatio

    ratio = JoblibRatio()
    ratio.value = Fraction(2, 7)
    with pytest.raises(
        SaveError,
        match=r"JoblibRatio lists saver 'joblib', which no installed plugin registers \(known: json\); install "
        r"torchon-numpy \(pip install torchon-numpy\)$",
    ):
        torchon.save(ratio, tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_saving_a_numpy_array_without_its_saver_names_torchon_numpy(
    tmp_path: Path, corpus_manager: Any
) -> None:
    np = pytest.importorskip("numpy")
    from construction_classes import Pipeline

    pipeline = Pipeline(size=4)
    pipeline.table += np.arange(4.0)  # trained in place: state, which only a saver of arrays can save
    with pytest.raises(SaveError) as info:
        torchon.save(pipeline, tmp_path / "b")
    message = str(info.value)
    assert (
        "attribute table (ndarray) was set or changed after __init__ returned and is not plain data"
        in message
    )
    assert message.endswith(
        "; numpy.ndarray values are saved by torchon-numpy (pip install torchon-numpy), which is not installed or not loaded"
    )
    assert list(tmp_path.iterdir()) == []
    pipeline.table = [0.0, 1.0]  # no array: no plugin to install for it
    pipeline.extra = Fraction(1, 2)
    with pytest.raises(SaveError) as info:
        torchon.save(pipeline, tmp_path / "b")
    assert "attribute extra (Fraction)" in str(info.value) and "values are saved by" not in str(info.value)
