"""The status publisher: every OrderStatus flexbridge emits goes to ``orders.status`` through here.

A status is encoded by its wire names (``schemas.codec.encode_model``) and keyed by its
``orderId``, so all statuses of an order land on one partition in the order they were produced.
One at a time (:meth:`StatusPublisher.publish`, awaiting the acknowledgement) for the real-time
flows and commands; in bulk (:meth:`StatusPublisher.publish_all`, one produce batch per
partition) for the batch path, whose files hold thousands of records.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from schemas.codec import encode_model
from schemas.status import OrderStatus
from streams.kafka.bulk import produce_keyed

__all__ = ["Headers", "StatusPublisher", "status_record"]

Headers = list[tuple[str, bytes]]


def status_record(status: OrderStatus) -> tuple[bytes, bytes]:
    """The ``(key, value)`` of a status on ``orders.status``: its orderId, its JSON."""
    return status.order_id.encode(), encode_model(status)


class StatusPublisher:
    """Produces OrderStatuses to one topic (``settings.topics.status``) with one producer."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self.topic = topic

    async def publish(self, status: OrderStatus, headers: Headers | None = None) -> None:
        """Produce one status and wait until Kafka acknowledges it (KafkaError otherwise)."""
        key, value = status_record(status)
        await self._producer.send_and_wait(self.topic, value, key, headers=headers)

    async def publish_all(self, statuses: Sequence[OrderStatus]) -> None:
        """Produce many statuses in bulk and wait for every acknowledgement."""
        await self.publish_encoded([status_record(s) for s in statuses])

    async def publish_encoded(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Bulk, for statuses already encoded as ``(orderId, JSON)`` (the batch path's PENDING)."""
        await produce_keyed(self._producer, self.topic, records)
