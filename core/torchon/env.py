"""The environment a run executes in: what remote execution ships along with the config.

One :class:`Environment` is in force per process. ``get_env()`` returns it (or a copy with some fields changed);
``set_env()`` replaces it for the rest of the process. It is a frozen dataclass of plain data so it serialises to
JSON for another process or host.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Environment", "get_env", "set_env"]


def _this_host() -> tuple[str, ...]:
    return (socket.gethostname(),)


@dataclass(frozen=True)
class Environment:
    """What is in force for a run.

    :ivar extensions: extension name -> spec as written in the config header (``./ext``, a git URL, ``pkg==1.0``).
    :ivar resolved: extension name -> what the spec resolved to (path, commit, version), for the lock.
    :ivar resources: name -> local path of a file or folder the run needs.
    :ivar output_dir: the run's output folder, when a run is in progress.
    :ivar config_path: the config file being run, so components can resolve paths relative to it.
    :ivar hosts: the hosts taking part (this host alone unless an executor says otherwise).
    :ivar debug: show tracebacks and debug logs.
    :ivar extra: fields plugins add: what their command-line options put in force (``executor`` for
        ``torchon run --executor NAME``, from torchon-search), a trial's resources.
    """

    extensions: Mapping[str, str] = field(default_factory=dict)
    resolved: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    resources: Mapping[str, str] = field(default_factory=dict)
    output_dir: str | None = None
    config_path: str | None = None
    hosts: tuple[str, ...] = field(default_factory=_this_host)
    debug: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def replace(self, **fields: Any) -> Environment:
        """A copy with ``fields`` changed; unknown field names are an error naming the known ones."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise TypeError(
                f"unknown environment field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(known))}"
            )
        if "hosts" in fields and fields["hosts"] is not None:
            fields["hosts"] = tuple(fields["hosts"])
        return dataclasses.replace(self, **fields)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["hosts"] = list(self.hosts)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Environment:
        return cls().replace(**dict(data))


_lock = threading.Lock()
_env = Environment()


def get_env(**overrides: Any) -> Environment:
    """The environment in force, or a copy of it with ``overrides`` applied (the one in force is unchanged)."""
    env = _env
    return env.replace(**overrides) if overrides else env


def set_env(env: Environment | None = None, **fields: Any) -> Environment:
    """Put ``env`` (or the current one with ``fields`` changed) in force for the rest of the process.

    Returns the environment that was in force before, so callers can restore it.
    """
    global _env
    with _lock:
        previous = _env
        base = env if env is not None else _env
        _env = base.replace(**fields) if fields else base
    return previous
