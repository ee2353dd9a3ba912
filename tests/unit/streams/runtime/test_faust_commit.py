"""Faust commits no offset before the order table's writes it covers are handed to Kafka
(streams/runtime/faust_commit.py), on the table's own changelog path (streams/runtime/changelog.py)
with a stand-in producer that hands over only when let."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from streams.runtime import faust_commit
from streams.runtime.changelog import Changelog


class _Producer:
    """aiokafka's producer as the changelog uses it; hands batches over once ``gate`` is set."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.handed: list[list[tuple[bytes, bytes | None]]] = []

    def create_batch(self) -> Any:
        records: list[tuple[bytes, bytes | None]] = []
        return SimpleNamespace(
            records=records, append=lambda key, value, timestamp: records.append((key, value))
        )

    async def send_batch(self, batch: Any, topic: str, partition: int) -> asyncio.Future[None]:
        await self.gate.wait()
        self.handed.append(batch.records)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.fixture
def committed(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, int]]:
    """The offsets Faust's own commit was reached with."""
    reached: list[dict[str, int]] = []

    async def commit(self: Any, offsets: dict[str, int], start_new_transaction: bool = True) -> bool:
        reached.append(offsets)
        return True

    monkeypatch.setattr(faust_commit, "_original_commit_offsets", commit)
    return reached


def _consumer(*writes: Changelog) -> Any:
    app = SimpleNamespace()
    for each in writes:
        faust_commit.wait_for(app, each)
    return SimpleNamespace(app=app)


OFFSETS: Any = {"orders.status/0": 7}


async def test_a_commit_waits_for_the_writes_before_it_and_is_skipped_if_they_stay(
    committed: list[dict[str, int]], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    producer: Any = _Producer()
    writes = Changelog("app-orders-changelog", lambda: producer)
    consumer = _consumer(writes)
    writes.send(0, b"ORD-1", b"a")

    monkeypatch.setattr(faust_commit, "DRAIN_SECONDS", 0.05)
    with caplog.at_level(logging.WARNING):
        assert await faust_commit._commit_offsets(consumer, OFFSETS) is False
    assert committed == []  # the offset stays: the write may still be lost
    assert "table writes not handed to Kafka" in caplog.text

    monkeypatch.setattr(faust_commit, "DRAIN_SECONDS", 30)
    pending = asyncio.create_task(faust_commit._commit_offsets(consumer, OFFSETS))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not pending.done() and committed == []
    writes.send(0, b"ORD-2", b"b")  # written after the commit began: not waited for
    producer.gate.set()
    assert await pending is True
    assert committed == [OFFSETS] and producer.handed[0] == [(b"ORD-1", b"a")]


async def test_a_commit_waits_for_every_table_s_writes(committed: list[dict[str, int]]) -> None:
    first: Any = _Producer()
    second: Any = _Producer()
    one, two = Changelog("a-changelog", lambda: first), Changelog("b-changelog", lambda: second)
    consumer = _consumer(one, two)
    one.send(0, b"K", b"v")
    two.send(0, b"K", b"v")
    pending = asyncio.create_task(faust_commit._commit_offsets(consumer, OFFSETS))
    first.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not pending.done()
    second.gate.set()
    assert await pending is True and committed == [OFFSETS]


async def test_with_nothing_written_the_commit_goes_at_once(committed: list[dict[str, int]]) -> None:
    assert await faust_commit._commit_offsets(_consumer(), OFFSETS) is True
    assert committed == [OFFSETS]
