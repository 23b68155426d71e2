"""The channel between a Ray Train run's driver and its worker 0, as a plain object (Ray runs it as an async
actor): every change wakes whoever waits for it at once, and a step redone after a restart is not news.

Marked ``ray`` to run with the plugin's other tests (``-m ray``, where torchon-ray is installed); no head needed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from torchon_ray.train import Channel, ProgressRelay

pytestmark = pytest.mark.ray


def event(step: int, go_on: bool = True, checkpointed: int | None = None) -> dict[str, Any]:
    return {"step": step, "metrics": {}, "counters": {}, "go_on": go_on, "checkpointed": checkpointed}


def test_a_step_goes_ahead_and_its_report_arrives_without_waiting_for_a_timeout() -> None:
    async def scenario() -> None:
        channel = Channel()
        assert await channel.ask(0.05) is None  # worker 0 not there yet: the driver looks at the run again
        assert await channel.hello(0) is None  # no checkpoint yet

        async def worker() -> None:
            while await channel.next(channel.done or 0):
                await channel.report(event((channel.done or 0) + 1, go_on=(channel.done or 0) + 1 < 3))

        task = asyncio.create_task(worker())
        started = time.monotonic()
        for step in (1, 2, 3):
            assert await channel.ask(5) == step
            events, _ = await channel.wait(step - 1, 0, 5)
            assert [e["step"] for e in events] == [step]
        assert time.monotonic() - started < 1.0  # woken by each change, not by the 5-second timeouts
        assert events[-1]["go_on"] is False
        await channel.stop()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_a_restarted_worker_resumes_and_redone_steps_are_not_reported_twice() -> None:
    async def scenario() -> None:
        channel = Channel()
        await channel.hello(0)
        assert await channel.ask(1) == 1
        await channel.report(event(1, checkpointed=1))
        assert await channel.ask(1) == 2
        await channel.report(event(2))
        assert await channel.hello(1) == 1  # started again: the last checkpoint is step 1
        await channel.report(event(2))  # step 2 redone
        events, _ = await channel.wait(0, 0, 0.1)
        assert [e["step"] for e in events] == [1, 2]
        assert events[-1]["starts"] == 1  # the redone step 2 was dropped; the first report stands
        await channel.report(event(3))
        events, _ = await channel.wait(2, 0, 0.1)
        assert [(e["step"], e["starts"], e["resumed"]) for e in events] == [(3, 2, 1)]

    asyncio.run(scenario())


def test_the_progress_relay_hands_each_display_call_to_the_driver() -> None:
    class Remote:
        def __init__(self, channel: Channel) -> None:
            self.channel = channel

        @property
        def progress(self) -> Any:
            channel = self.channel

            class Method:
                @staticmethod
                def remote(call: list[Any]) -> None:
                    asyncio.run(channel.progress(call))

            return Method

    channel = Channel()
    relay = ProgressRelay(Remote(channel))
    relay.start_step(1, 10)
    relay.tick(3, lambda: 0.5)  # within the first tenth of a second: not sent
    time.sleep(0.12)
    relay.tick(5, lambda: 0.25)
    assert relay.end_step(lambda: "step 1/2  done", last=False)
    assert channel.calls == [["start", 1, 10], ["tick", 5, 0.25], ["end", "step 1/2  done", False]]
    unseen = channel.calls[1:]
    _, calls = asyncio.run(channel.wait(0, 1, 0.1))  # the driver has shown the first call
    assert calls == unseen
    assert channel.calls == unseen and channel.dropped == 1  # what it has shown is not kept
