"""The order table's changelog writes (streams/runtime/changelog.py): handed to the producer a
produce batch per partition, in the order written, across turns and after a failed hand-over; the
future of each write answers with Kafka's acknowledgement (Faust's commit waits for them:
test_faust_commit.py). The producer is a stand-in here (a pure unit test): the batches it was
handed, and their futures."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, ProducerClosed

from streams.runtime import changelog
from streams.runtime.changelog import Changelog


class _Batch:
    def __init__(self, room: int) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []
        self.room = room

    def append(self, key: bytes, value: bytes | None, timestamp: int | None) -> object | None:
        if len(self.records) == self.room:
            return None
        self.records.append((key, value))
        return object()


class _Producer:
    """Batches of ``room`` records; ``fail`` is raised by the next hand-overs, one each."""

    def __init__(self, room: int = 100) -> None:
        self.room = room
        self.handed: list[tuple[str, int, list[tuple[bytes, bytes | None]]]] = []
        self.acks: list[asyncio.Future[None]] = []
        self.fail: list[Exception] = []
        self.refuse: dict[int, Exception] = {}  # the next hand-over to a partition raises this
        self.gate: asyncio.Event | None = None  # set: hand-overs wait for it

    def create_batch(self) -> _Batch:
        return _Batch(self.room)

    async def send_batch(self, batch: _Batch, topic: str, partition: int) -> asyncio.Future[None]:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise self.fail.pop(0)
        if partition in self.refuse:
            raise self.refuse.pop(partition)
        self.handed.append((topic, partition, batch.records))
        self.acks.append(asyncio.get_running_loop().create_future())
        return self.acks[-1]


def _writer(producer: _Producer) -> Changelog:
    kafka: Any = producer
    return Changelog("app-orders-changelog", lambda: kafka)


async def _handed(writer: Changelog) -> None:
    assert await writer.handed_over(writer.taken, 5.0)


async def test_a_turn_hands_each_partition_its_records_in_one_batch_in_the_order_written() -> None:
    producer = _Producer()
    writer = _writer(producer)
    writer.send(3, b"ORD-1", b"a")
    writer.send(5, b"ORD-2", b"b")
    writer.send(3, b"ORD-1", b"c")
    writer.send(3, b"ORD-3", None)  # a tombstone
    await _handed(writer)
    assert producer.handed == [
        ("app-orders-changelog", 3, [(b"ORD-1", b"a"), (b"ORD-1", b"c"), (b"ORD-3", None)]),
        ("app-orders-changelog", 5, [(b"ORD-2", b"b")]),
    ]
    assert (writer.taken, writer.handed) == (4, 4)


async def test_writes_made_during_a_turn_go_in_the_next_one_after_it() -> None:
    producer = _Producer()
    producer.gate = asyncio.Event()
    writer = _writer(producer)
    writer.send(0, b"ORD-1", b"first")
    await asyncio.sleep(0)  # the turn has begun, and waits for the producer
    writer.send(0, b"ORD-1", b"second")
    assert not await writer.handed_over(1, 0.01)
    producer.gate.set()
    await _handed(writer)
    assert [records for _, _, records in producer.handed] == [[(b"ORD-1", b"first")], [(b"ORD-1", b"second")]]


async def test_more_records_than_a_batch_holds_go_in_several_batches_in_order() -> None:
    producer = _Producer(room=2)
    writer = _writer(producer)
    for n in range(5):
        writer.send(1, f"ORD-{n}".encode(), b"v")
    await _handed(writer)
    keys = [key for _, _, records in producer.handed for key, _ in records]
    assert keys == [b"ORD-0", b"ORD-1", b"ORD-2", b"ORD-3", b"ORD-4"]
    assert [len(records) for _, _, records in producer.handed] == [2, 2, 1]


async def test_a_write_is_acknowledged_when_kafka_has_every_batch_of_its_turn() -> None:
    producer = _Producer(room=1)
    writer = _writer(producer)
    first, second = writer.send(2, b"ORD-1", b"a"), writer.send(2, b"ORD-2", b"b")
    assert first is second  # one partition's writes of a turn share their acknowledgement
    await _handed(writer)
    producer.acks[0].set_result(None)
    await asyncio.sleep(0)
    assert not first.done()
    producer.acks[1].set_result(None)
    await asyncio.wait_for(first, 1)


async def test_a_failed_delivery_fails_the_write_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    producer = _Producer()
    writer = _writer(producer)
    acked = writer.send(0, b"ORD-1", b"a")
    await _handed(writer)
    producer.acks[0].set_exception(KafkaTimeoutError())
    with pytest.raises(KafkaTimeoutError):
        await acked
    assert "order table changelog: a write to partition 0 failed (KafkaTimeoutError)" in caplog.text


async def test_a_hand_over_that_fails_is_tried_again_in_its_place(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(changelog, "RETRY_SECONDS", 0.01)
    producer = _Producer()
    producer.fail = [KafkaTimeoutError()]
    writer = _writer(producer)
    writer.send(4, b"ORD-1", b"a")
    await asyncio.sleep(0)
    writer.send(4, b"ORD-1", b"b")
    await _handed(writer)
    assert [records for _, _, records in producer.handed] == [[(b"ORD-1", b"a")], [(b"ORD-1", b"b")]]
    assert "1 writes to partition 4 not handed over (KafkaTimeoutError)" in caplog.text


async def test_a_closed_producer_fails_the_writes_not_handed_over_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = _Producer()
    writer = _writer(producer)
    handed = writer.send(0, b"ORD-1", b"a")
    await _handed(writer)
    producer.gate = asyncio.Event()
    again = writer.send(0, b"ORD-1", b"b")  # handed over before the close
    other = writer.send(1, b"ORD-2", b"c")
    producer.refuse[1] = ProducerClosed()
    producer.gate.set()
    with caplog.at_level(logging.ERROR):
        assert not await writer.handed_over(4, 0.05)
    with pytest.raises(ProducerClosed):
        await other
    assert "the producer closed with 1 writes not sent" in caplog.text
    for ack in producer.acks:
        ack.set_result(None)
    await asyncio.wait_for(asyncio.gather(handed, again), 1)  # Kafka has those: they answer as it did
