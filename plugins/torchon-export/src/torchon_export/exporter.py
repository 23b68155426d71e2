"""``!Exporter`` (alias ``!Builder``): build an inference component from earlier runs' bundles and artifacts, and
ship it as a bundle to local disk or any storage (``s3://`` with torchon-s3), decoupled from training.

.. code-block:: yaml

    !Builder
    storage: s3                  # or local; or leave it out and write a URI as the destination
    destination: my-bucket       # bucket, bucket/prefix, or a local folder
    requirements: [numpy>=1.24]  # optional: distributions the bundle needs beyond its classes'
    component: !ClassifierEngine
      model: !ext.MyBinaryClassifier.load_from_path:
        path: /path/to/saved/model
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torchon
from torchon.api import RunFailed, Runnable

__all__ = ["Builder", "Exporter", "destination_uri"]

_LOCAL = ("local", "file")


def destination_uri(storage: str | None, destination: str) -> str:
    """The bundle URI for a ``storage`` kind and a ``destination`` (``("s3", "bucket/p")`` -> ``s3://bucket/p``).

    Without ``storage`` the destination is a URI or local path as it is. Local folders are made absolute.
    """
    if not isinstance(destination, str) or not destination.strip():
        raise ValueError("destination must be a bucket, bucket/prefix, URI or local folder")
    scheme, sep, _ = destination.partition("://")
    if storage is None:
        return destination if sep and scheme != "file" else str(_local(destination))
    kind = storage.lower()
    if kind in _LOCAL:
        if sep and scheme.lower() != "file":
            raise ValueError(f"storage: {storage} needs a local folder, but destination is {destination!r}")
        return str(_local(destination))
    if sep:
        if scheme.lower() != kind:
            raise ValueError(f"storage: {storage} does not match destination {destination!r}")
        return destination
    return f"{kind}://{destination.strip('/')}"


def _local(destination: str) -> Path:
    from torchon.api import LocalStorage

    return LocalStorage.local_path(destination).absolute()


class Exporter(Runnable):
    """Save ``component`` as a bundle at ``destination`` and print its URI.

    :param component: what to export; anything a bundle can save. Its config is saved, not the Exporter's, so
        loading the bundle gives back the component (``torchon.load(uri).predict(...)``).
    :param destination: a bucket, ``bucket/prefix``, a local folder, or a full URI.
    :param storage: ``local`` or a storage scheme (``s3``); left out, the destination says.
    :param requirements: extra distributions the bundle needs (``"scikit-learn>=1.3"``), recorded in the
        manifest with their installed versions; loading names any that are missing.
    """

    def __init__(
        self,
        component: Any,
        destination: str,
        storage: str | None = None,
        requirements: list[str] | None = None,
    ) -> None:
        self.component = component
        self.destination = destination
        self.storage = storage
        self.requirements = list(requirements or [])
        destination_uri(storage, destination)  # fail while the config is built, with its location

    def run(self) -> None:
        from torchon.api import BundleError, SaveError, StorageError

        uri = destination_uri(self.storage, self.destination)
        try:
            torchon.save(self.component, uri, requirements=self.requirements)
        except (SaveError, StorageError, BundleError, OSError) as exc:
            raise RunFailed(f"exporting to {uri} failed: {exc}") from exc
        self.exported = uri
        output_dir = torchon.get_env().output_dir
        if output_dir:
            record = {"uri": uri, "requirements": self.requirements}
            (Path(output_dir) / "export.json").write_text(json.dumps(record, indent=1) + "\n")
        print(uri, flush=True)


class Builder(Exporter):
    """The seeds' name for :class:`Exporter`."""
