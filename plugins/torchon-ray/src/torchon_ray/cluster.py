"""``--cluster ADDRESS_OR_FILE``: where the Ray Jobs API is, and the token to show it.

An address is the dashboard's (``http://head:8265``, or ``head:8265``). A file is YAML::

    address: http://head:8265
    token_file: ~/.ray/auth_token      # or token_env: MY_RAY_TOKEN (the token itself never sits in the file)
    python: /opt/venv/bin/python       # the interpreter the job runs torchon with (default: python)

Without a token source, Ray's own are used, in Ray's order: ``RAY_AUTH_TOKEN``, the file at
``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``; with none of them, no token is sent (a cluster without token auth).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Cluster", "ClusterError", "read_cluster"]

_FIELDS = ("address", "token_file", "token_env", "python")


class ClusterError(Exception):
    """``--cluster`` names no usable cluster, or its token cannot be read."""


@dataclass(frozen=True)
class Cluster:
    """A Ray cluster's Jobs API address, its token (None: send none) and where the token came from."""

    address: str
    token: str | None = None
    token_source: str = "none"
    python: str = "python"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _http(address: str) -> str:
    address = address.strip().rstrip("/")
    return address if "://" in address else f"http://{address}"


def _token_from_file(path: str, what: str) -> tuple[str, str]:
    file = Path(path).expanduser()
    try:
        token = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ClusterError(f"cannot read the Ray token file {file} ({what}): {exc.strerror}") from None
    if not token:
        raise ClusterError(f"the Ray token file {file} ({what}) is empty")
    return token, f"{what} {file}"


def _default_token() -> tuple[str | None, str]:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return _token_from_file(os.environ["RAY_AUTH_TOKEN_PATH"], "RAY_AUTH_TOKEN_PATH")
    default = Path("~/.ray/auth_token").expanduser()
    if default.is_file():
        return _token_from_file(str(default), "Ray's default token file")
    return None, "none"


def read_cluster(spec: str) -> Cluster:
    """The cluster ``--cluster`` names: an existing file is read as YAML, anything else is an address."""
    path = Path(spec).expanduser()
    if not path.is_file():
        if not spec.strip() or any(c.isspace() for c in spec.strip()):
            raise ClusterError(f"--cluster {spec!r} is neither an address (http://head:8265) nor a file")
        token, source = _default_token()
        return Cluster(_http(spec), token, source)
    from ruamel.yaml import YAML, YAMLError

    try:
        data: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise ClusterError(f"cannot read cluster file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("address"), str):
        raise ClusterError(
            f"cluster file {path} must be a mapping with an address (address: http://head:8265)"
        )
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ClusterError(
            f"cluster file {path}: unknown field(s) {', '.join(unknown)}; known: {', '.join(_FIELDS)}"
        )
    if data.get("token_file"):
        token, source = _token_from_file(str(data["token_file"]), f"token_file of {path}")
    elif data.get("token_env"):
        name = str(data["token_env"])
        if not os.environ.get(name):
            raise ClusterError(f"cluster file {path} takes the token from ${name}, which is not set")
        token, source = os.environ[name].strip(), f"${name}"
    else:
        token, source = _default_token()
    return Cluster(_http(data["address"]), token, source, str(data.get("python") or "python"))
