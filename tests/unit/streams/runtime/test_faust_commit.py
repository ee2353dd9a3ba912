"""Faust commits no offset before the table writes it covers are handed to Kafka
(streams/runtime/faust_commit.py), on Faust's own producer buffer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.producer import ProducerBuffer

from streams.runtime import faust_commit

UNTHREADED = SimpleNamespace(producer_threaded=False)  # Faust's conf, as flexbridge sets it


class _Kafka:
    """Where the buffer hands its writes (aiokafka): a write in ``held`` waits there until released."""

    def __init__(self, *held: int) -> None:
        self.held = {n: asyncio.Event() for n in held}
        self.reached: list[int] = []  # writes the buffer's task started to hand over
        self.arrived = asyncio.Event()
        self.sent: list[int] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        self.reached.append(fut.n)
        self.arrived.set()
        if fut.n in self.held:
            await self.held[fut.n].wait()
        self.sent.append(fut.n)

    def write(self, n: int) -> Any:
        return SimpleNamespace(n=n, message=SimpleNamespace(channel=self))

    def release(self, n: int) -> None:
        self.held[n].set()


def _drained(buffer: ProducerBuffer, seconds: float) -> Coroutine[Any, Any, bool]:
    """Whether every write put so far leaves ``buffer`` within ``seconds`` (counted from now)."""
    return faust_commit.handed_over(buffer, faust_commit.taken(buffer), seconds)


@pytest.fixture
async def buffer(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ProducerBuffer]:
    monkeypatch.setattr(ProducerBuffer, "put", faust_commit._put)
    monkeypatch.setattr(ProducerBuffer, "_send_pending", faust_commit._send_pending)
    buf = ProducerBuffer()
    buf.app = SimpleNamespace(conf=UNTHREADED)  # type: ignore[assignment]
    await buf.start()
    yield buf
    await buf.stop()


async def test_faust_s_own_flush_gives_up_while_a_write_waits(buffer: ProducerBuffer) -> None:
    kafka = _Kafka(1)
    buffer.put(kafka.write(1))
    buffer.put(kafka.write(2))
    await buffer.flush()  # Faust's: returns once no write has left for 0.1 s
    assert kafka.sent == []  # both still in the process: a commit now would pass them
    kafka.release(1)
    assert await _drained(buffer, 30)
    assert kafka.sent == [1, 2]


async def test_drained_waits_for_the_write_being_handed_over_too(buffer: ProducerBuffer) -> None:
    kafka = _Kafka(1)
    buffer.put(kafka.write(1))
    await kafka.arrived.wait()
    assert buffer.size == 0  # taken from the queue, not handed over yet
    await buffer.flush()  # Faust's: nothing queued, so done at once
    waiting = asyncio.create_task(_drained(buffer, 30))
    await asyncio.wait([waiting], timeout=0.1)
    assert not waiting.done() and kafka.sent == []
    kafka.release(1)
    assert await waiting
    assert kafka.sent == [1]


async def test_writes_put_after_the_wait_began_do_not_hold_it(buffer: ProducerBuffer) -> None:
    kafka = _Kafka(1, 2)
    buffer.put(kafka.write(1))
    waiting = asyncio.create_task(_drained(buffer, 30))
    buffer.put(kafka.write(2))  # a later fold, stuck
    await kafka.arrived.wait()
    kafka.release(1)
    assert await waiting
    assert kafka.sent == [1] and kafka.reached == [1, 2]
    kafka.release(2)
    assert await _drained(buffer, 30)


async def test_drained_is_false_when_the_writes_do_not_leave_in_time(buffer: ProducerBuffer) -> None:
    kafka = _Kafka(1)
    buffer.put(kafka.write(1))
    assert not await _drained(buffer, 0.05)
    assert kafka.sent == []
    kafka.release(1)
    assert await _drained(buffer, 30)


async def test_a_commit_waits_for_the_writes_and_is_skipped_if_they_stay(
    buffer: ProducerBuffer, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed: list[dict[str, int]] = []

    async def commit(self: Any, offsets: dict[str, int], start_new_transaction: bool = True) -> bool:
        committed.append(offsets)
        return True

    monkeypatch.setattr(faust_commit, "_original_commit_offsets", commit)
    app = SimpleNamespace(conf=UNTHREADED, producer=SimpleNamespace(buffer=buffer))
    consumer: Any = SimpleNamespace(app=app)
    kafka = _Kafka(1)
    buffer.put(kafka.write(1))

    monkeypatch.setattr(faust_commit, "DRAIN_SECONDS", 0.05)
    assert await faust_commit._commit_offsets(consumer, {"orders.status/0": 7}) is False
    assert committed == []  # the offset stays: the write may still be lost

    monkeypatch.setattr(faust_commit, "DRAIN_SECONDS", 30)
    pending = asyncio.create_task(faust_commit._commit_offsets(consumer, {"orders.status/0": 7}))
    await buffer.flush()  # 0.1 s without progress: still waiting
    assert not pending.done() and committed == []
    kafka.release(1)
    assert await pending is True
    assert committed == [{"orders.status/0": 7}] and kafka.sent == [1]
