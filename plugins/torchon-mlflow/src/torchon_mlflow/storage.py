"""``mlflow://``, ``models:/`` and ``runs:/``: bundles as MLflow models, in MLflow's model registry and runs.

Saving to ``mlflow://NAME`` (or ``models:/NAME``) logs the bundle as an MLflow model, the bundle folder as its
data with the ``python_function`` flavor of :mod:`torchon_mlflow.pyfunc` and the requirements of the bundle's
manifest, and registers it as a new version of registered model ``NAME``; ``mlflow://NAME@ALIAS`` also points
alias ``ALIAS`` at that version. Inside a tracked run (``--track mlflow``) the model is logged to that run.
Saving to ``runs:/RUN_ID/PATH`` stores the bundle folder as artifacts of an existing run, manifest last.

Loading takes ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``models:/NAME/latest`` (``mlflow://`` alike;
``mlflow://NAME`` is the latest version) and ``runs:/RUN_ID/PATH`` (a bundle folder, or an MLflow model of one).
MLflow's client fetches the files into torchon's scratch folder, and ``torchon.load`` checks every one against
its digest, as for any storage. Where MLflow is (``MLFLOW_TRACKING_URI``, ``MLFLOW_REGISTRY_URI``) and how to reach
it (credentials) are MLflow's own settings.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchon.api import Storage, StorageError

__all__ = ["MlflowRef", "MlflowStorage", "MlflowStorageError", "parse_uri"]

logger = logging.getLogger("torchon.mlflow")

MANIFEST = "manifest.json"
_URI = re.compile(r"^(mlflow|models|runs):/{1,2}(.*)$", re.IGNORECASE)


class MlflowStorageError(StorageError):
    """An MLflow model or run artifact cannot be read or written; the message names the URI and why."""


@dataclass(frozen=True)
class MlflowRef:
    """What an ``mlflow://``, ``models:/`` or ``runs:/`` URI names.

    A registered model (``name``, with at most one of ``version``, ``alias``; neither: the latest version), or a
    run's artifact (``run_id`` and ``path``).
    """

    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    path: str = ""

    @property
    def is_model(self) -> bool:
        return self.name is not None

    def mlflow_uri(self, version: str | None = None) -> str:
        """The URI as MLflow's own client reads it (``version`` in place of "the latest")."""
        if self.name is None:
            return f"runs:/{self.run_id}/{self.path}".rstrip("/")
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{version or self.version or 'latest'}"


def parse_uri(uri: str) -> MlflowRef:
    """What ``uri`` names; a :class:`MlflowStorageError` saying how to write it when it names nothing."""
    match = _URI.match(uri.strip())
    if match is None:
        raise MlflowStorageError(f"{uri}: not an mlflow://, models:/ or runs:/ URI")
    scheme, rest = match.group(1).lower(), match.group(2).strip("/")
    if scheme == "runs":
        run_id, _, path = rest.partition("/")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", run_id or ""):
            raise MlflowStorageError(f"{uri}: no run id; write runs:/RUN_ID/PATH (PATH: a folder of the run)")
        return MlflowRef(uri, run_id=run_id, path=path.strip("/"))
    name, version, alias = rest, None, None
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        if not alias or "/" in alias:
            raise MlflowStorageError(f"{uri}: write models:/NAME@ALIAS (an alias has no '/')")
    else:
        head, _, tail = rest.rpartition("/")
        if head and (tail.isdigit() or tail == "latest"):
            name, version = head, (None if tail == "latest" else tail)
    if not name:
        raise MlflowStorageError(
            f"{uri}: no model name; write {scheme}:/{'/' if scheme == 'mlflow' else ''}NAME, NAME/VERSION or "
            "NAME@ALIAS"
        )
    return MlflowRef(uri, name=name, version=version, alias=alias)


def _not_found(exc: BaseException) -> bool:
    code = getattr(exc, "error_code", None)
    return code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or "RESOURCE_DOES_NOT_EXIST" in str(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


class MlflowStorage(Storage):
    """``mlflow://``, ``models:/`` and ``runs:/`` URIs, through MLflow's client."""

    scheme = "mlflow"

    def __init__(self) -> None:
        self.registered: tuple[str, str] | None = None  # (name, version) of the last model this saved

    @property
    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient()

    def _where(self) -> str:
        import mlflow

        return str(mlflow.get_tracking_uri())

    # -- reading ---------------------------------------------------------------------------------------------

    def _version(self, ref: MlflowRef) -> str:
        """The version number ``ref`` names (the latest one for a name alone)."""
        client = self.client
        name = ref.name
        assert name is not None
        try:
            if ref.alias is not None:
                return str(client.get_model_version_by_alias(name, ref.alias).version)
            if ref.version is not None:
                return str(client.get_model_version(name, ref.version).version)
            versions = client.search_model_versions(
                f"name = '{name}'", max_results=1, order_by=["version_number DESC"]
            )
        except Exception as exc:
            if _not_found(exc):
                raise MlflowStorageError(self._missing(ref)) from None
            raise MlflowStorageError(
                f"{ref.uri}: asking MLflow at {self._where()} failed: {_first_line(exc)}"
            ) from exc
        if not versions:
            raise MlflowStorageError(self._missing(ref))
        return str(versions[0].version)

    def _missing(self, ref: MlflowRef) -> str:
        what = (
            f"alias {ref.alias!r} of"
            if ref.alias
            else f"version {ref.version} of"
            if ref.version
            else "a version of"
        )
        known = ""
        try:
            versions = self.client.search_model_versions(f"name = '{ref.name}'", max_results=50)
            if versions:
                known = f" (it has versions {', '.join(sorted((v.version for v in versions), key=int))})"
        except Exception:  # the registered model itself is missing, or MLflow is not answering: said below
            pass
        return f"{ref.uri}: there is no {what} registered model {ref.name!r} at {self._where()}{known}"

    def exists(self, uri: str) -> bool:
        ref = parse_uri(uri)
        if ref.is_model:
            try:
                self._version(ref)
            except MlflowStorageError:
                return False
            return True
        try:
            return bool(self.client.list_artifacts(ref.run_id, ref.path or None)) or self._is_file(ref)
        except Exception as exc:
            if _not_found(exc):
                return False
            raise MlflowStorageError(
                f"{uri}: asking MLflow at {self._where()} failed: {_first_line(exc)}"
            ) from exc

    def _is_file(self, ref: MlflowRef) -> bool:
        parent, _, name = ref.path.rpartition("/")
        return (
            any(a.path == ref.path for a in self.client.list_artifacts(ref.run_id, parent or None))
            if name
            else False
        )

    def download(self, uri: str, dest: Path) -> Path:
        import mlflow

        ref = parse_uri(uri)
        source = ref.mlflow_uri(self._version(ref) if ref.is_model else None)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fetched = Path(tempfile.mkdtemp(prefix=".mlflow-", dir=dest.parent))
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(fetched)))
        except Exception as exc:
            shutil.rmtree(fetched, ignore_errors=True)
            if _not_found(exc):
                raise MlflowStorageError(
                    f"{uri}: nothing is stored at {source} in MLflow at {self._where()}"
                ) from None
            raise MlflowStorageError(
                f"{uri}: downloading {source} from MLflow at {self._where()} failed: {_first_line(exc)}"
            ) from exc
        try:
            bundle = self._bundle_in(local, uri)
            if bundle is None:  # a plain file or folder (an artifact): as it is
                bundle = local
            if dest.exists():
                shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
            shutil.move(str(bundle), str(dest))
        finally:
            shutil.rmtree(fetched, ignore_errors=True)
        return dest

    def _bundle_in(self, local: Path, uri: str) -> Path | None:
        """The bundle folder in what was downloaded: itself, or the data of an MLflow model of one."""
        if (local / MANIFEST).is_file():
            return local
        if not (local / "MLmodel").is_file():
            return None
        from mlflow.models import Model

        flavor = Model.load(str(local / "MLmodel")).flavors.get("python_function") or {}
        from torchon_mlflow.pyfunc import LOADER_MODULE

        if flavor.get("loader_module") != LOADER_MODULE or not flavor.get("data"):
            loader = flavor.get("loader_module") or "none (no python_function flavor)"
            raise MlflowStorageError(
                f"{uri}: an MLflow model, but not of a torchon bundle (its python_function loader is {loader}); "
                "load it with mlflow.pyfunc.load_model"
            )
        return local / str(flavor["data"])

    # -- writing ---------------------------------------------------------------------------------------------

    def upload(self, src: Path, uri: str) -> None:
        ref = parse_uri(uri)
        src = Path(src)
        if ref.is_model:
            if ref.version is not None:
                raise MlflowStorageError(
                    f"{uri}: the registry numbers versions itself; save to mlflow://{ref.name} (a new version) or "
                    f"mlflow://{ref.name}@ALIAS (a new version, and ALIAS pointing at it)"
                )
            if not (src / MANIFEST).is_file():
                raise MlflowStorageError(f"{uri}: only a bundle can be an MLflow model ({src} is not one)")
            self._register(src, ref)
        else:
            self._to_run(src, ref)

    def _register(self, bundle: Path, ref: MlflowRef) -> None:
        import mlflow
        from mlflow.models import Model

        from torchon_mlflow import tracking
        from torchon_mlflow.pyfunc import LOADER_MODULE

        assert ref.name is not None
        tracker = tracking.current()
        run_id = tracker.run_id(tracker.settings.timeout) if tracker is not None else None
        try:
            info = Model.log(
                None,  # artifact_path: MLflow 3 names logged models by name
                name=_model_name(ref.name),
                flavor=mlflow.pyfunc,
                registered_model_name=ref.name,
                run_id=run_id,
                loader_module=LOADER_MODULE,
                data_path=str(bundle),
                pip_requirements=requirements(bundle),
            )
            version = str(info.registered_model_version)
            if ref.alias is not None:
                self.client.set_registered_model_alias(ref.name, ref.alias, version)
        except MlflowStorageError:
            raise
        except Exception as exc:
            raise MlflowStorageError(
                f"{ref.uri}: registering the bundle in MLflow at {self._where()} failed: {_first_line(exc)}"
            ) from exc
        self.registered = (ref.name, version)
        alias = f", alias {ref.alias!r}" if ref.alias else ""
        logger.info("registered %s as version %s of MLflow model %r%s", bundle.name, version, ref.name, alias)

    def _to_run(self, src: Path, ref: MlflowRef) -> None:
        """Store ``src`` as artifacts of an existing run: a bundle's manifest last (its commit marker)."""
        client = self.client
        path = ref.path or None
        try:
            if src.is_file():
                if not ref.path:
                    raise MlflowStorageError(f"{ref.uri}: a file needs a path; write runs:/{ref.run_id}/NAME")
                folder, _, name = ref.path.rpartition("/")
                with tempfile.TemporaryDirectory(prefix="torchon-mlflow-") as tmp:
                    named = Path(tmp) / name  # MLflow names an artifact after its file
                    shutil.copy2(src, named)
                    client.log_artifact(ref.run_id, str(named), folder or None)
                return
            if not src.is_dir():
                raise MlflowStorageError(f"{src}: no such file or folder to store at {ref.uri}")
            manifest = src / MANIFEST
            with tempfile.TemporaryDirectory(prefix="torchon-mlflow-") as tmp:
                staged = Path(tmp) / "bundle"
                shutil.copytree(src, staged, ignore=lambda d, names: [MANIFEST] if Path(d) == src else [])
                client.log_artifacts(ref.run_id, str(staged), path)
            if manifest.is_file():
                client.log_artifact(ref.run_id, str(manifest), path)
        except MlflowStorageError:
            raise
        except Exception as exc:
            if _not_found(exc):
                raise MlflowStorageError(
                    f"{ref.uri}: there is no run {ref.run_id} at {self._where()}"
                ) from None
            raise MlflowStorageError(
                f"{ref.uri}: storing {src} in MLflow at {self._where()} failed: {_first_line(exc)}"
            ) from exc


def requirements(bundle: Path) -> list[str]:
    """What serving the bundle needs installed: the distributions its manifest names, at the versions it was
    saved with, and this plugin (the model's loader)."""
    from importlib.metadata import PackageNotFoundError, version

    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    needed = {str(d): str(v) for d, v in (manifest.get("requirements") or {}).items() if isinstance(v, str)}
    for dist in ("torchon", "torchon-mlflow"):
        try:
            needed.setdefault(dist, version(dist))
        except PackageNotFoundError:  # not installed as a distribution: nothing to name
            pass
    return [f"{dist}=={ver}" for dist, ver in sorted(needed.items())]


def _model_name(name: str) -> str:
    """The name of the logged model (MLflow's LoggedModel) of registered model ``name``."""
    return re.sub(r"[^\w.-]+", "-", name).strip("-") or "torchon-bundle"
