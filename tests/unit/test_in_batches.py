"""The worker's batching of a faust stream: a record is acknowledged only after the batch
holding it was applied, batches never exceed their size, and a trickle is applied within
the wait (the stream is a stand-in with faust's noack/events/ack; the real broker cases are
in tests/integration/test_kafka_pipeline.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from consumers.runtime.faust_app import in_batches


@dataclass
class Event:
    value: int


class Stream:
    """Hands out events as they are fed; records which were acknowledged."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.acked: list[int] = []
        self.manual = False

    def noack(self) -> Stream:
        self.manual = True
        return self

    async def events(self) -> Any:
        while (event := await self.queue.get()) is not None:
            yield event

    async def ack(self, event: Event) -> bool:
        self.acked.append(event.value)
        return True

    def feed(self, *values: int) -> None:
        for value in values:
            self.queue.put_nowait(Event(value))


async def _wait_for(check: Any, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.001)


def test_records_are_acked_only_after_their_batch_was_applied() -> None:
    async def scenario() -> None:
        stream = Stream()
        applied: list[list[int]] = []
        release = asyncio.Event()

        async def apply_batch(values: list[int]) -> None:
            acked_before = list(stream.acked)
            await release.wait()  # a slow store
            assert stream.acked == acked_before  # nothing acked while a batch is in flight
            applied.append(values)

        agent = asyncio.ensure_future(in_batches(stream, 3, 0.0, apply_batch))
        stream.feed(1)
        await asyncio.sleep(0.01)
        stream.feed(2, 3, 4, 5, 6, 7)  # read while batch [1] is being applied
        await asyncio.sleep(0.01)
        assert stream.manual and stream.acked == []
        release.set()
        await _wait_for(lambda: len(stream.acked) == 7)
        assert [v for batch in applied for v in batch] == [1, 2, 3, 4, 5, 6, 7]  # in order
        assert all(len(batch) <= 3 for batch in applied)
        assert applied[0] == [1]
        assert stream.acked == [1, 2, 3, 4, 5, 6, 7]
        agent.cancel()

    asyncio.run(scenario())


def test_a_worker_stopped_mid_batch_acks_nothing_of_that_batch() -> None:
    async def scenario() -> None:
        stream = Stream()
        started = asyncio.Event()

        async def apply_batch(values: list[int]) -> None:
            started.set()
            await asyncio.sleep(10)  # still applying when the worker stops

        agent = asyncio.ensure_future(in_batches(stream, 100, 0.0, apply_batch))
        stream.feed(1, 2, 3)
        await asyncio.wait_for(started.wait(), 2)
        agent.cancel()
        await asyncio.gather(agent, return_exceptions=True)
        await asyncio.sleep(0.01)
        assert stream.acked == []  # the next owner of the partitions gets them again

    asyncio.run(scenario())


def test_a_trickle_waits_at_most_within_and_a_full_batch_not_at_all() -> None:
    async def scenario() -> None:
        stream = Stream()
        applied: list[tuple[float, list[int]]] = []
        loop = asyncio.get_running_loop()

        async def apply_batch(values: list[int]) -> None:
            applied.append((loop.time(), values))

        agent = asyncio.ensure_future(in_batches(stream, 4, 0.2, apply_batch))
        start = loop.time()
        stream.feed(1)
        await _wait_for(lambda: applied)
        assert 0.15 <= applied[0][0] - start < 1.0 and applied[0][1] == [1]
        start = loop.time()
        stream.feed(2, 3, 4, 5)  # a full batch goes at once
        await _wait_for(lambda: len(applied) == 2)
        assert applied[1][0] - start < 0.15 and applied[1][1] == [2, 3, 4, 5]
        agent.cancel()

    asyncio.run(scenario())
