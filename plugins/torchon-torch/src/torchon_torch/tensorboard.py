"""TensorBoard scalars in the run's output folder, written by a small events writer of our own.

While a Trainer runs, every metric reported in the process — the Trainer's own (``train_loss``, ``lr``,
``val_*``) and whatever any component passes to ``torchon.report`` or ``torchon.log`` — is also written as a
scalar to ``OUT/tensorboard/``, which ``tensorboard --logdir`` reads.

The events file format is TFRecord (length, masked CRC-32C of the length, data, masked CRC-32C of the data) of
``Event`` protocol buffers; scalars need only a few fields, encoded here by hand. This is what
``torch.utils.tensorboard.SummaryWriter`` writes, without its dependencies (tensorboard, protobuf) and at a
fraction of its cost per step: one event per step holding all its scalars. A step's scalars are only kept until
the next flush (every few seconds and at the end), which encodes and writes them together: encoding each in its
step, between the model's kernels, cost several times more. On a resumed run, a "session start" event at the first
step to come makes TensorBoard drop what the interrupted run wrote from that step on, as
``SummaryWriter(purge_step=...)`` does.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["EventWriter", "TensorBoardWriter", "masked_crc32c"]


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def _py_crc32c(data: bytes) -> int:
    """CRC-32C in Python: where google-crc32c (a dependency, C with the CPU's CRC instructions) is missing."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # ~100x faster than the Python loop: two CRCs per event, every step
    from google_crc32c import value as _crc32c
except ImportError:  # pragma: no cover - a platform without its wheels
    _crc32c = _py_crc32c


def masked_crc32c(data: bytes) -> int:
    """The CRC-32C of ``data``, masked as TFRecord files store it."""
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # int64 fields: negative numbers as their two's complement
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(
    step: int,
    *,
    wall_time: float | None = None,
    summary: bytes = b"",
    file_version: str = "",
    session_start: bool = False,
) -> bytes:
    """An ``Event``: wall_time (1, double), step (2, int64), file_version (3), summary (5), session_log (7)."""
    when = time.time() if wall_time is None else wall_time
    event = b"\x09" + struct.pack("<d", when) + b"\x10" + _varint(step)
    if file_version:
        event += _field(3, file_version.encode())
    if summary:
        event += _field(5, summary)
    if session_start:
        event += _field(7, b"\x08\x01")  # SessionLog {status: START}
    return event


def _scalars(values: dict[str, float]) -> bytes:
    """A ``Summary`` of ``Value {tag (1), simple_value (2, float)}``; NaNs are left out."""
    return b"".join(
        _field(1, _field(1, tag.encode("utf-8")) + b"\x15" + struct.pack("<f", value))
        for tag, value in values.items()
        if not math.isnan(value)
    )


def _record(data: bytes) -> bytes:
    """``data`` framed as a TFRecord."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


class EventWriter:
    """Appends events to a new events file in ``folder``; scalars wait in memory for the next :meth:`flush`."""

    def __init__(self, folder: Path, *, flush_seconds: float = 5.0) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.{time.monotonic_ns()}"
        self.path = folder / name
        self._file: IO[bytes] | None = open(self.path, "ab")
        self._flush_seconds = flush_seconds
        self._next_flush = time.monotonic() + flush_seconds
        self._pending: list[tuple[int, float, dict[str, float]]] = []  # step, wall time, scalars
        self._write(_event(0, file_version="brain.Event:2"))
        self.flush()

    def _write(self, data: bytes) -> None:
        """Write an event now, after the pending scalars (events stay in order)."""
        assert self._file is not None
        self._write_pending()
        self._file.write(_record(data))

    def _write_pending(self) -> None:
        if self._pending and self._file is not None:
            self._file.write(
                b"".join(
                    _record(_event(step, wall_time=when, summary=_scalars(values)))
                    for step, when, values in self._pending
                )
            )
            self._pending.clear()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Add the scalars of ``step`` (the caller's dict is not changed later); written by the next flush."""
        if values and self._file is not None:
            self._pending.append((step, time.time(), values))
            if time.monotonic() >= self._next_flush:
                self.flush()

    def session_start(self, step: int) -> None:
        """Mark a restart: TensorBoard drops the events of earlier sessions at ``step`` and later."""
        if self._file is not None:
            self._write(_event(step, session_start=True))

    def flush(self) -> None:
        if self._file is not None:
            self._write_pending()
            self._file.flush()
            self._next_flush = time.monotonic() + self._flush_seconds

    def close(self) -> None:
        if self._file is not None:
            self._write_pending()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


class TensorBoardWriter:
    """Every metric reported in the process, as TensorBoard scalars under ``folder``, until :meth:`close`.

    ``purge_step``: a resumed run's first step; what an earlier run wrote from it on is superseded.
    """

    def __init__(
        self, folder: Path, *, purge_step: int | None = None, default_step: Callable[[], int]
    ) -> None:
        self.folder = folder
        self._default_step = default_step
        self._events = EventWriter(folder)
        if purge_step is not None:
            self._events.session_start(purge_step)
        from torchon.api import metrics

        add_listener = getattr(metrics, "add_listener", None)  # a kernel without it: the Trainer's own only
        self._remove = add_listener(self.record) if add_listener is not None else None

    @property
    def listening(self) -> bool:
        """Whether every reported metric reaches this writer (else the Trainer passes its own)."""
        return self._remove is not None

    def record(self, step: int | None, metrics: dict[str, float]) -> None:
        at = self._default_step() if step is None else step
        self._events.scalars(at, dict(metrics))  # kept until the next flush: a copy the caller cannot change

    def close(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None
        self._events.close()
