"""Faust commits no offset before the table writes it covers are handed to Kafka
(streams/runtime/faust_commit.py), on Faust's own producer buffer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.producer import ProducerBuffer

from streams.runtime import faust_commit


class _Kafka:
    """Where the buffer hands its writes: each waits until ``gate`` opens (aiokafka's batch full)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.handing = asyncio.Event()  # a write reached Kafka's side and waits there
        self.sent: list[int] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        self.handing.set()
        await self.gate.wait()
        self.sent.append(fut.n)

    def write(self, n: int) -> Any:
        return SimpleNamespace(n=n, message=SimpleNamespace(channel=self))


@pytest.fixture
async def buffer(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ProducerBuffer]:
    monkeypatch.setattr(ProducerBuffer, "_send_pending", faust_commit._send_pending)
    buf = ProducerBuffer()
    buf.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    await buf.start()
    yield buf
    await buf.stop()


async def test_faust_s_own_flush_gives_up_while_a_write_waits(buffer: ProducerBuffer) -> None:
    kafka = _Kafka()
    buffer.put(kafka.write(1))
    buffer.put(kafka.write(2))
    await buffer.flush()  # Faust's: returns once no write has left for 0.1 s
    assert kafka.sent == []  # both still in the process: a commit now would pass them
    kafka.gate.set()
    assert await faust_commit.drained(buffer, 30)
    assert kafka.sent == [1, 2]


async def test_drained_waits_for_the_write_being_handed_over_too(buffer: ProducerBuffer) -> None:
    kafka = _Kafka()
    buffer.put(kafka.write(1))
    await kafka.handing.wait()
    assert buffer.size == 0  # taken from the queue, not handed over yet
    await buffer.flush()  # Faust's: nothing queued, so done at once
    waiting = asyncio.create_task(faust_commit.drained(buffer, 30))
    await asyncio.wait([waiting], timeout=0.1)
    assert not waiting.done() and kafka.sent == []
    kafka.gate.set()
    assert await waiting
    assert kafka.sent == [1]


async def test_drained_is_false_when_the_writes_do_not_leave_in_time(buffer: ProducerBuffer) -> None:
    kafka = _Kafka()
    buffer.put(kafka.write(1))
    assert not await faust_commit.drained(buffer, 0.05)
    assert kafka.sent == []
    kafka.gate.set()
    assert await faust_commit.drained(buffer, 30)


async def test_a_commit_waits_for_the_writes_and_is_skipped_if_they_stay(
    buffer: ProducerBuffer, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed: list[dict[str, int]] = []

    async def commit(self: Any, offsets: dict[str, int], start_new_transaction: bool = True) -> bool:
        committed.append(offsets)
        return True

    monkeypatch.setattr(faust_commit, "_original_commit_offsets", commit)
    consumer: Any = SimpleNamespace(app=SimpleNamespace(producer=SimpleNamespace(buffer=buffer)))
    kafka = _Kafka()
    buffer.put(kafka.write(1))

    monkeypatch.setattr(faust_commit, "DRAIN_SECONDS", 0.05)
    assert await faust_commit._commit_offsets(consumer, {"orders.status/0": 7}) is False
    assert committed == []  # the offset stays: the write may still be lost

    monkeypatch.setattr(faust_commit, "DRAIN_SECONDS", 30)
    pending = asyncio.create_task(faust_commit._commit_offsets(consumer, {"orders.status/0": 7}))
    await buffer.flush()  # 0.1 s without progress: still waiting
    assert not pending.done() and committed == []
    kafka.gate.set()
    assert await pending is True
    assert committed == [{"orders.status/0": 7}] and kafka.sent == [1]
