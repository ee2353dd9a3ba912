"""Unit tests of the status publisher (streams/runtime/status.py) against a fake producer."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from schemas.codec import encode_model
from schemas.status import OrderStatus, status_of
from streams.kafka.bulk import produce_keyed
from streams.runtime.status import StatusPublisher, status_record


class _FakeBatch:
    """Holds up to three records, like an aiokafka batch that fills up."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object | None:
        if len(self.records) >= 3:
            return None
        self.records.append((key, value))
        return object()


class _FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[int, list[tuple[bytes, bytes]]]] = []
        self.waited: list[tuple[str, bytes, bytes, Any]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes, *, headers: Any = None) -> None:
        self.waited.append((topic, value, key, headers))

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(5))

    def create_batch(self) -> _FakeBatch:
        return _FakeBatch()

    async def send_batch(self, batch: _FakeBatch, topic: str, *, partition: int) -> asyncio.Future[None]:
        self.sent.append((partition, batch.records))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_produce_keyed_partitions_like_the_default_partitioner_in_order() -> None:
    producer = _FakeProducer()
    items = [(f"ORD-{i}".encode(), f"v{i}".encode()) for i in range(40)]
    await produce_keyed(producer, "orders.status", items)
    partitioner = DefaultPartitioner()
    landed = [(p, key, value) for p, records in producer.sent for key, value in records]
    assert sorted(v for _, _, v in landed) == sorted(v for _, v in items)  # each record once
    for partition, key, _ in landed:
        assert partition == partitioner(key, list(range(5)), list(range(5)))
    for partition in {p for p, _, _ in landed}:  # a partition's records keep their order
        values = [v for p, _, v in landed if p == partition]
        assert values == [v for k, v in items if v in values]
    assert all(len(records) <= 3 for _, records in producer.sent) and len(producer.sent) > 5


def _statuses(n: int) -> list[OrderStatus]:
    return [status_of(f"ORD-{i % 7}", "PENDING", "batch", f"evt-{i}") for i in range(n)]


async def test_a_status_is_keyed_by_its_order_id_with_its_headers() -> None:
    producer = _FakeProducer()
    status = status_of("ORD-9", "APPROVED", "webhook", "ev:9", session_key="s-9")
    await StatusPublisher(producer, "orders.status").publish(status, [("h", b"1")])
    assert producer.waited == [("orders.status", encode_model(status), b"ORD-9", [("h", b"1")])]
    assert status_record(status) == (b"ORD-9", encode_model(status))
    assert orjson.loads(producer.waited[0][1])["orderSessionKey"] == "s-9"


async def test_many_statuses_go_in_produce_batches_keyed_by_order_id() -> None:
    producer = _FakeProducer()
    statuses = _statuses(20)
    await StatusPublisher(producer, "orders.status").publish_all(statuses)
    landed = sorted(record for _, records in producer.sent for record in records)
    assert landed == sorted(status_record(s) for s in statuses) and not producer.waited
