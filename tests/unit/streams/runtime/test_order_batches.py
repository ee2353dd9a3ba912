"""The order-state agent folds a batch of statuses, then sends each order it changed to the order
table's changelog once, with its last value, to the partition of its statuses; a record that is not
an OrderStatus is skipped and the rest applied. The Faust table is a stand-in here (a pure unit
test): its store, and the changelog records it was asked to send."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.status import Status, status_of
from streams.runtime.metrics import Metrics
from streams.runtime.orders import OrderBook


class _Store(dict[str, bytes]):
    _key_partition: dict[str, int]


class _Table:
    def __init__(self) -> None:
        self.data = _Store()
        self.data._key_partition = {}
        self.sent: list[tuple[int, str, Any]] = []

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def send_changelog(self, partition: int, key: str, value: Any) -> None:
        self.sent.append((partition, key, value))


def _record(order: str, status: Status, event: str, partition: int) -> tuple[bytes, bytes, int]:
    value = status_of(order, status, "evaluate", event).model_dump_json(by_alias=True).encode()
    return order.encode(), value, partition


def test_a_batch_sends_each_order_it_changed_once_with_its_last_value() -> None:
    table = _Table()
    book = OrderBook(table, Metrics())
    book.on_statuses(
        [
            _record("ORD-1", "PENDING", "E1", 3),
            _record("ORD-2", "PENDING", "E2", 5),
            _record("ORD-1", "SUBMITTED", "E1", 3),
        ]
    )
    assert [(partition, key) for partition, key, _ in table.sent] == [(3, "ORD-1"), (5, "ORD-2")]
    assert [orjson.loads(value)["status"] for _, _, value in table.sent] == ["SUBMITTED", "PENDING"]
    assert table.sent[0][2] == table.data["ORD-1"]
    assert table.data._key_partition == {"ORD-1": 3, "ORD-2": 5}  # dropped with their partitions


def test_a_record_that_is_no_status_is_skipped_and_the_rest_applied() -> None:
    table = _Table()
    book = OrderBook(table, Metrics())
    book.on_statuses([(b"ORD-1", b"{not a status", 0), _record("ORD-1", "PENDING", "E1", 0)])
    assert [key for _, key, _ in table.sent] == ["ORD-1"]
    assert book.metrics.order_statuses.labels("invalid")._value.get() == 1


def test_a_status_written_nothing_sends_nothing() -> None:
    table = _Table()
    book = OrderBook(table, Metrics())
    book.on_statuses([_record("ORD-1", "PENDING", "E1", 0)])
    book.on_statuses([_record("ORD-1", "PENDING", "E1", 0)])  # the same status again: a duplicate
    assert len(table.sent) == 1
