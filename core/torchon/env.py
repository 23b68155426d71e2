"""The environment a run executes in, one in force per process: what remote execution ships along with the
config, so it is a frozen dataclass of plain data that serialises to JSON for another process or host."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Environment", "get_env", "set_env"]


@dataclass(frozen=True)
class Environment:
    """What is in force for a run."""

    extensions: Mapping[str, str] = field(default_factory=dict)  # name -> spec, as the config's header says
    resolved: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> what it resolved to
    resources: Mapping[str, str] = field(default_factory=dict)  # name -> local path of a file or folder
    output_dir: str | None = None  # the run's output folder, while a run is in progress
    config_path: str | None = None  # the config being run: components resolve paths relative to it
    hosts: tuple[str, ...] = field(default_factory=lambda: (socket.gethostname(),))  # the hosts taking part
    debug: bool = False  # show tracebacks and debug logs
    # fields plugins add: what their command-line options put in force (``executor`` for ``torchon run
    # --executor NAME``, from torchon-search), a trial's resources
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
    return _env.replace(**overrides) if overrides else _env


def set_env(env: Environment | None = None, **fields: Any) -> Environment:
    """Put ``env`` (or the current one with ``fields`` changed) in force for the rest of the process; returns
    the one in force before, for callers to restore."""
    global _env
    with _lock:
        previous = _env
        base = env or _env
        _env = base.replace(**fields) if fields else base
    return previous
