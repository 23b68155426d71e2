"""The events writer: files TensorBoard itself reads back, scalars at their steps, restarts superseding steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchon_torch.tensorboard import EventWriter, TensorBoardWriter, masked_crc32c

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def read(folder: Path) -> event_accumulator.EventAccumulator:
    events = event_accumulator.EventAccumulator(str(folder))
    events.Reload()
    return events


@pytest.mark.parametrize("which", ["_crc32c", "_py_crc32c"])  # google-crc32c's, and the fallback
def test_crc32c_matches_the_standard_check_value(which: str) -> None:
    import torchon_torch.tensorboard as tb

    _crc32c = getattr(tb, which)
    assert _crc32c(bytes(range(256)) * 3) == tb._py_crc32c(bytes(range(256)) * 3)
    assert _crc32c(b"123456789") == 0xE3069283
    assert masked_crc32c(b"") == 0xA282EAD8


def test_tensorboard_reads_the_scalars_back(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path)
    writer.scalars(1, {"loss": 0.5, "val/accuracy": 0.75})
    writer.scalars(2, {"loss": 0.25})
    writer.scalars(-3, {"odd step": 1.0})
    writer.close()
    events = read(tmp_path)
    assert sorted(events.Tags()["scalars"]) == ["loss", "odd step", "val/accuracy"]
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(1, 0.5), (2, 0.25)]
    assert events.Scalars("val/accuracy")[0].value == 0.75
    assert events.Scalars("odd step")[0].step == -3


def test_a_resumed_run_supersedes_the_steps_it_writes_again(tmp_path: Path) -> None:
    first = TensorBoardWriter(tmp_path, default_step=lambda: 0)
    for step in (1, 2, 3):
        first.record(step, {"loss": float(step)})
    first.close()
    second = TensorBoardWriter(tmp_path, purge_step=3, default_step=lambda: 0)  # resumed after step 2
    second.record(3, {"loss": 30.0})
    second.record(None, {"lr": 0.1, "nan": float("nan")})
    second.close()
    events = read(tmp_path)
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(1, 1.0), (2, 2.0), (3, 30.0)]
    assert events.Scalars("lr")[0].step == 0 and "nan" not in events.Tags()["scalars"]


def test_scalars_wait_for_the_flush_and_stay_in_order_with_other_events(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path, flush_seconds=3600)
    header = writer.path.stat().st_size
    for step in (1, 2, 3):
        writer.scalars(step, {"loss": float(step)})
    assert writer.path.stat().st_size == header  # kept until the flush: no encoding in the step
    writer.session_start(2)  # a restart after step 1: written after the scalars before it
    writer.scalars(2, {"loss": 20.0})
    writer.flush()
    assert [(e.step, e.value) for e in read(tmp_path).Scalars("loss")] == [(1, 1.0), (2, 20.0)]
    writer.close()
