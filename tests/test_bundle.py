"""Bundles: round trips, partial loads, savers, versions, and bundles that are corrupted or hostile."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import torchon
from torchon.bundle import BundleError, BundleIntegrityError, BundleSafetyError, BundleVersionError, SaveError
from torchon.bundle.files import digest_bytes
from torchon.config import loads

TESTS = Path(__file__).parent


@pytest.fixture
def cp(corpus_manager):  # type: ignore[no-untyped-def]
    """The corpus plugin's module (registered tags Encoder, Model, Trainer, Pair, Optim)."""
    import corpus_plugin

    return corpus_plugin


def model_tree(cp):  # type: ignore[no-untyped-def]
    encoder = cp.Encoder(dim=3, activation="tanh")
    model = cp.Model(encoder=encoder, width=4, dropout=0.25)
    model.table = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]  # arrays: torchon-numpy's tests
    model.hidden = 11
    trainer = cp.Trainer(model=model, steps=5, tags=["a"], extra={"shared": 1})
    trainer.done = 3
    return trainer


def test_round_trip_of_a_tree_built_in_python(cp, tmp_path: Path) -> None:
    trainer = model_tree(cp)
    assert torchon.save(trainer, tmp_path / "b") == str(tmp_path / "b")
    loaded = torchon.load(tmp_path / "b")
    assert type(loaded) is cp.Trainer and loaded.steps == 5 and loaded.tags == ["a"]
    assert loaded.done == 3 and loaded.model.hidden == 11
    assert loaded.model.encoder.activation == "tanh" and loaded.model.dropout == 0.25
    assert loaded.model.table == trainer.model.table


def test_round_trip_of_a_tree_built_from_yaml_with_lists_dicts_and_shared_links(cp, tmp_path: Path) -> None:
    root = (
        loads(
            textwrap.dedent(
                """
            !Pair
            first: !Model {encoder: !Encoder {dim: 2}, width: 3}
            second:
              models: [!Model {width: 5}, !@ first]
              by_name: {enc: !@ first.encoder, when: !datetime.timedelta {days: 2}}
            """
            )
        )
        .build()
        .root
    )
    torchon.save(root, f"file://{tmp_path}/b")
    loaded = torchon.load(f"file://{tmp_path}/b")
    assert loaded.second["models"][1] is loaded.first
    assert loaded.second["by_name"]["enc"] is loaded.first.encoder
    assert loaded.second["models"][0].width == 5
    assert loaded.second["by_name"]["when"].days == 2


def test_load_a_part_on_its_own(cp, tmp_path: Path) -> None:
    torchon.save(model_tree(cp), tmp_path / "b")
    encoder = torchon.load(tmp_path / "b", path="model.encoder")
    assert type(encoder) is cp.Encoder and encoder.dim == 3
    model = torchon.load(tmp_path / "b", path="model")
    assert model.hidden == 11 and model.table == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    with pytest.raises(BundleError, match=r"no object at 'model\.decoder'; the bundle holds: \(top\), model"):
        torchon.load(tmp_path / "b", path="model.decoder")


def test_saving_over_a_bundle_replaces_it_and_leaves_no_temporary_folders(cp, tmp_path: Path) -> None:
    trainer = model_tree(cp)
    torchon.save(trainer, tmp_path / "b")
    trainer.done = 9
    torchon.save(trainer, tmp_path / "b")
    assert torchon.load(tmp_path / "b").done == 9
    deadline = time.monotonic() + 10  # the old bundle is deleted in the background
    while sorted(p.name for p in tmp_path.iterdir()) != ["b"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    assert oct((tmp_path / "b").stat().st_mode & 0o777) != "0o700"


def test_refuses_to_overwrite_a_folder_that_is_not_a_bundle(cp, tmp_path: Path) -> None:
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep")
    with pytest.raises(Exception, match="not a torchon bundle; refusing to replace it"):
        torchon.save(model_tree(cp), tmp_path / "precious")
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep"


def test_a_user_saver_listed_by_the_class(tmp_path: Path, corpus_manager) -> None:
    from bundle_classes import Worker

    worker = Worker(name="w")
    worker.jobs.put(1)
    worker.done = 4
    torchon.save(worker, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [s["name"] for s in manifest["nodes"][0]["savers"]] == ["json", "queue"]
    config = (tmp_path / "b" / "config.yaml").read_text()
    assert config.startswith(f"bundle_classes: {TESTS / 'corpus' / 'bundle_classes.py'}\n---")
    loaded = torchon.load(tmp_path / "b")  # the module is importable here, so no trust is needed
    assert isinstance(loaded.jobs, queue.Queue) and loaded.jobs.empty() and loaded.done == 4


def test_code_savers_need_trust(tmp_path: Path, corpus_manager) -> None:
    from bundle_classes import Estimator

    estimator = Estimator()
    estimator.ratio = Fraction(2, 7)
    torchon.save(estimator, tmp_path / "b")
    with pytest.raises(BundleSafetyError, match=r"\(top\) was saved with 'pickle', a code saver"):
        torchon.load(tmp_path / "b")
    assert torchon.load(tmp_path / "b", trust=True).ratio == Fraction(2, 7)


def test_state_nothing_can_save_is_an_error_naming_it(tmp_path: Path, corpus_manager) -> None:
    from bundle_classes import Holder

    holder = Holder()
    holder.lock = Fraction(2, 3)  # changed after construction: __init__ cannot bring it back
    with pytest.raises(
        SaveError,
        match=r"attribute lock \(Fraction\) was set or changed after __init__ returned and is not plain data.*"
        r"Fix: set it up in __init__",
    ):
        torchon.save(holder, tmp_path / "b")
    assert not (tmp_path / "b").exists() and list(tmp_path.iterdir()) == []
    torchon.save(Holder(), tmp_path / "b")  # as __init__ left it: rebuilt on load, nothing to save
    assert torchon.load(tmp_path / "b").lock == Fraction(1, 2)


def test_classes_of_the_main_script_cannot_be_saved(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import torchon
        class Thing(torchon.Component):
            def __init__(self, n: int = 1):
                self.n = n
        try:
            torchon.save(Thing(), {str(tmp_path / "b")!r})
        except torchon.bundle.SaveError as exc:
            print("REFUSED", exc)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "REFUSED classes defined in the script being run (module __main__)" in proc.stdout, proc.stderr


def test_versions_migrate_in_order_and_newer_is_refused(tmp_path: Path, corpus_manager, monkeypatch) -> None:
    from bundle_classes import Counter

    counter = Counter()
    counter.total = 7
    monkeypatch.setattr(Counter, "VERSION", 1)
    monkeypatch.setattr(Counter, "get_state", lambda self: {"count": self.total})
    torchon.save(counter, tmp_path / "old")
    monkeypatch.undo()
    assert torchon.load(tmp_path / "old").total == 70  # 1 -> 2 renames, 2 -> 3 multiplies
    monkeypatch.setattr(Counter, "VERSION", 5)
    torchon.save(counter, tmp_path / "new")
    monkeypatch.undo()
    with pytest.raises(
        BundleVersionError, match=r"saved by Counter VERSION 5, newer than the installed VERSION 3"
    ):
        torchon.load(tmp_path / "new")


# -- corruption -------------------------------------------------------------------------------------------------


@pytest.fixture
def bundle(cp, tmp_path: Path) -> Path:
    path = tmp_path / "b"
    torchon.save(model_tree(cp), path)
    return path


def _files(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "manifest.json").read_text())["files"]


@pytest.mark.parametrize("kind", ["config.yaml", "json/state.json"])  # .npy files: torchon-numpy's tests
def test_a_flipped_byte_in_each_kind_of_file_is_refused_naming_it(bundle: Path, kind: str) -> None:
    name = next(n for n in _files(bundle) if n.endswith(kind))
    data = bytearray((bundle / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / name).write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=rf"{name} does not match its blake3 digest"):
        torchon.load(bundle)


def test_truncated_missing_and_extra_files_are_refused_naming_them(bundle: Path) -> None:
    name = next(n for n in _files(bundle) if n.endswith("json/state.json"))
    content = (bundle / name).read_bytes()
    (bundle / name).write_bytes(content[:-10])
    with pytest.raises(
        BundleIntegrityError, match=rf"{name} has {len(content) - 10} bytes, the manifest says"
    ):
        torchon.load(bundle)
    (bundle / name).unlink()
    with pytest.raises(BundleIntegrityError, match=rf"{name} is missing"):
        torchon.load(bundle)
    (bundle / name).write_bytes(content)
    (bundle / "state" / "planted.py").write_text("print('hi')")
    with pytest.raises(BundleIntegrityError, match=r"state/planted.py is not listed in the manifest"):
        torchon.load(bundle)


def test_an_edited_manifest_is_refused(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    name = next(iter(manifest["files"]))
    manifest["files"][name]["blake3"] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleIntegrityError, match=rf"{name} does not match its blake3 digest"):
        torchon.load(bundle)
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(BundleIntegrityError, match=r"manifest\.json is not valid JSON"):
        torchon.load(bundle)
    (bundle / "manifest.json").unlink()
    with pytest.raises(BundleIntegrityError, match=r"no manifest\.json: not a torchon bundle"):
        torchon.load(bundle)


def test_a_newer_format_is_refused(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleIntegrityError, match="bundle format 99 is newer than this torchon reads"):
        torchon.load(bundle)


# -- hostile bundles: rewrite a file and its digest, as an attacker would --------------------------------------


def _forge(bundle: Path, name: str, data: bytes, **node_changes: Any) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / name).parent.mkdir(parents=True, exist_ok=True)
    (bundle / name).write_bytes(data)
    manifest["files"][name] = {"size": len(data), "blake3": digest_bytes(data)}
    for node in manifest["nodes"]:
        node.update(node_changes.get(node["path"], {}))
    (bundle / "manifest.json").write_text(json.dumps(manifest))


MARKER_CODE = "__import__('pathlib').Path({marker!r}).write_text('pwned')"


@pytest.mark.parametrize("trust", [False, True])
def test_python_tags_in_the_config_never_run(bundle: Path, tmp_path: Path, trust: bool) -> None:
    marker = tmp_path / "pwned"
    config = f'!!python/object/apply:eval ["{MARKER_CODE.format(marker=str(marker))}"]\n'
    _forge(bundle, "config.yaml", config.encode())
    with pytest.raises(BundleError, match=r"the YAML tag !!python/object/apply:eval is not allowed"):
        torchon.load(bundle, trust=trust)
    assert not marker.exists()


@pytest.mark.parametrize("trust", [False, True])
def test_a_tag_naming_a_function_is_refused(bundle: Path, trust: bool) -> None:
    _forge(bundle, "config.yaml", b"!os.system\ncommand: echo pwned\n")
    with pytest.raises(BundleError, match=r"!os.system is not a known tag"):
        torchon.load(bundle, trust=trust)


@pytest.mark.parametrize("trust", [False, True])
def test_a_pickle_in_a_data_state_file_is_never_unpickled(bundle: Path, tmp_path: Path, trust: bool) -> None:
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (eval, (MARKER_CODE.format(marker=str(marker)),))

    name = next(n for n in _files(bundle) if n.endswith("json/state.json"))
    _forge(bundle, name, pickle.dumps(Evil()))
    with pytest.raises(BundleError, match=r"restoring .* with saver 'json' failed"):
        torchon.load(bundle, trust=trust)
    assert not marker.exists()  # a pickle in a .npy file: torchon-numpy's tests


@pytest.mark.parametrize("trust", [False, True])
def test_a_saver_entry_claiming_data_for_a_code_saver_is_refused_even_trusted(
    tmp_path: Path, corpus_manager, trust: bool
) -> None:
    from bundle_classes import Estimator

    estimator = Estimator()
    estimator.ratio = Fraction(3, 7)  # state only a code saver can save
    torchon.save(estimator, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    for saver in manifest["nodes"][0]["savers"]:
        saver["safety"] = "data"
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        BundleSafetyError, match=r"says saver 'pickle' is 'data', but the installed one is 'code'"
    ):
        torchon.load(tmp_path / "b", trust=trust)


def test_a_bundle_naming_a_local_extension_path_does_not_import_it_untrusted(
    bundle: Path, tmp_path: Path
) -> None:
    evil = tmp_path / "evil_ext"
    evil.mkdir()
    marker = tmp_path / "pwned"
    (evil / "__init__.py").write_text(
        MARKER_CODE.format(marker=str(marker))
        + "\nimport torchon\nclass Thing(torchon.Component):\n    pass\n"
    )
    _forge(bundle, "config.yaml", f"evil_ext: {evil}\n---\n!evil_ext.Thing {{}}\n".encode())
    with pytest.raises(
        BundleError, match=r"extension 'evil_ext' is not importable here, and code from the path"
    ):
        torchon.load(bundle)
    assert not marker.exists()


def test_an_untrusted_bundle_may_build_only_components_from_extensions(bundle: Path) -> None:
    _forge(
        bundle,
        "config.yaml",
        b"pluggy: ./pluggy\n---\n!Pair\nfirst: !pluggy.PluginManager {project_name: x}\nsecond: 1\n",
    )
    with pytest.raises(
        BundleError,
        match=r"!pluggy.PluginManager is a plain class, not a torchon.Component(.|\n)*allow=\['pluggy'\]",
    ):
        torchon.load(bundle)


def test_missing_requirements_are_named_with_their_version(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["requirements"]["torchon-nonexistent"] = "4.2.0"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        BundleError, match=r"needs torchon-nonexistent==4\.2\.0, which is not installed; install it"
    ):
        torchon.load(bundle)


def test_mismatched_requirement_versions_are_reported(bundle: Path, caplog: pytest.LogCaptureFixture) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["requirements"]["torchon"] = "0.0.1"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level("WARNING", logger="torchon.bundle"):
        torchon.load(bundle)
    assert f"torchon (saved with 0.0.1, installed {torchon.__version__})" in caplog.text


def test_a_class_missing_from_the_environment_names_what_to_install(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["nodes"][0].update(
        {"class": "gone_pkg.models:Net", "distribution": "gone-pkg", "version": "1.2"}
    )
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        BundleError, match=r"gone_pkg.models:Net, which is not importable here; install gone-pkg==1.2"
    ):
        torchon.load(bundle)
