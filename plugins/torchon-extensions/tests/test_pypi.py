"""PyPI specs against distributions installed here (nothing is installed): a satisfying version is used as it is,
a wrong version or a key that is not the package's module is refused at the header line, and a bundle's config
naming one builds only torchon components from it unless the caller allows the module."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

import torchon
from torchon.api import BundleError
from torchon.bundle.files import digest_bytes
from torchon.config import ConfigError, loads


def test_pypi_extension_that_is_installed_and_satisfies_the_spec() -> None:
    config = loads(f"ruamel: ruamel.yaml=={version('ruamel.yaml')}\n---\n!Job {{}}\n")
    assert config.resolved[0].kind == "pypi" and config.resolved[0].version == version("ruamel.yaml")
    assert config.resolved[0].distribution == "ruamel.yaml"


def test_installed_pypi_extension_with_wrong_version_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"does not satisfy 'pluggy==0\.0\.1'") as info:
        loads("pluggy: pluggy==0.0.1\n---\n!Job {}\n")
    assert info.value.mark is not None and (info.value.mark.line, info.value.mark.col) == (1, 9)
    assert info.value.fix is not None and "--install-extensions" in info.value.fix


def test_pypi_key_must_be_a_module_the_package_provides() -> None:
    with pytest.raises(ConfigError, match=r"package pluggy provides modules pluggy, not 'plug'") as info:
        loads("plug: pluggy>=1\n---\n!Job {}\n")
    assert "write `pluggy: pluggy>=1`" in info.value.fix


def test_an_untrusted_bundle_may_build_only_components_from_a_pypi_extension(tmp_path: Path) -> None:
    from ext_corpus import Box

    bundle = tmp_path / "b"
    torchon.save(Box(1), bundle)
    config = b"pluggy: pluggy>=1\n---\n!Box\nvalue: !pluggy.PluginManager {project_name: x}\n"
    (bundle / "config.yaml").write_bytes(config)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["config.yaml"] = {"size": len(config), "blake3": digest_bytes(config)}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        BundleError,
        match=r"!pluggy.PluginManager is a plain class, not a torchon.Component(.|\n)*allow=\['pluggy'\]",
    ):
        torchon.load(bundle)
    assert torchon.load(bundle, allow=["pluggy"]).value.project_name == "x"
