"""The order table as a Faust table (:func:`order_table`), and its writes outside an agent's event.

Every write of the table reaches its changelog by flexbridge's own path, a produce batch per
partition (streams/runtime/changelog.py), not Faust's one record at a time.

Faust's ``table[key] = value`` and ``del table[key]`` send the changelog record to the partition of
the event being processed (``Table.partition_for_key``), so they work only inside an agent's
event. The order table is written outside one twice: by the retention's deletes (a timer's) and
by the order-state agent, which folds a batch of statuses and then sends each order's last value
once (streams/runtime/orders.py). Both go through the table's changelog send
(``Table.send_changelog``), as every other write of the table does, so that the changelog keeps
the order of the writes.

The in-memory store notes the partition of each key, to drop the keys of the partitions a worker
loses (streams/runtime/faust_fixes.py, fix 7): :func:`note` and :func:`unnote` keep those notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.errors import ProducerClosed
from faust.exceptions import NotReady

from streams.runtime import faust_commit
from streams.runtime.changelog import Changelog

__all__ = ["delete_outside_event", "note", "order_table", "send_outside_event", "unnote"]


def note(table: Any, key: Any, partition: int) -> None:
    """The in-memory store's note that ``key`` is in ``partition`` of the changelog."""
    noted = getattr(table.data, "_key_partition", None)
    if noted is not None:
        noted[key] = partition


def unnote(table: Any, key: Any) -> None:
    getattr(table.data, "_key_partition", {}).pop(key, None)


def send_outside_event(table: Any, key: Any, partition: int) -> None:
    """Send ``key``'s value as the table holds it now (written to ``table.data``) to ``partition`` of
    its changelog."""
    table.send_changelog(partition, key, table.data[key])
    note(table, key, partition)


def delete_outside_event(table: Any, key: Any, partition: int) -> None:
    """Drop ``key`` from the table and send its tombstone to ``partition`` of its changelog."""
    del table.data[key]
    table.send_changelog(partition, key, None, value_serializer="raw")
    unnote(table, key)


def order_table(app: faust.App, name: str, partitions: int) -> Any:
    """The Faust table ``name`` (``partitions`` like every topic), keys and values raw bytes."""
    table: Any = app.Table(
        name,
        key_type=str,
        value_type=bytes,
        partitions=partitions,
        help="flexbridge order state by merchant and orderId",
    )
    # Keys as plain UTF-8 (Faust would JSON-quote them): the request routing, which hashes the
    # orderId key it is given, then partitions exactly like orders.status and orders.commands.
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    # Faust made the changelog topic in the constructor, with the JSON key serializer: reading the
    # plain keys back failed ("Error in recovery"), so a restarted or rebalanced worker never
    # finished recovery and its agents (commands, order state) stalled. Rebuild it with the above.
    table.changelog_topic = table._new_changelog_topic()
    # Every write's changelog record goes by flexbridge's own path, a produce batch per partition
    # through Faust's aiokafka producer, made when Faust's producer starts
    # (streams/runtime/changelog.py); the future of its acknowledgement is kept, so that a write can
    # be waited for (OrderBook.put, for the command agent).
    changelog = Changelog(table.changelog_topic.get_topic_name(), lambda: _kafka_producer(app))
    faust_commit.wait_for(app, changelog)

    def send_changelog(
        partition: int,
        key: str,
        value: bytes | None,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> _Sent:
        table.last_changelog = changelog.send(partition, key.encode(), value)
        return _Sent(partition)

    table.send_changelog = send_changelog
    return table


def _kafka_producer(app: faust.App) -> AIOKafkaProducer:
    """Faust's aiokafka producer; ``ProducerClosed`` while Faust's producer is not running (before
    it starts, after it stops), as aiokafka's own producer answers once closed."""
    try:
        kafka: AIOKafkaProducer = cast(Any, app.producer)._ensure_producer()
    except NotReady:
        raise ProducerClosed() from None
    return kafka


@dataclass(frozen=True, slots=True)
class _Sent:
    """What Faust's ``Table.on_key_set`` and ``on_key_del`` read of a changelog send: the record's
    ``message.partition``."""

    partition: int

    @property
    def message(self) -> _Sent:
        return self
