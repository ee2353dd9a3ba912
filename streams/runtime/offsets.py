"""Which offset of a partition is safe to commit when records finish out of order."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

__all__ = ["Committed", "PartitionOffsets", "lag_of", "learn_committed"]


class Committed(Protocol):
    """A partition's committed offset as its reader knows it (None: not known yet)."""

    committed: int | None


class PartitionOffsets:
    """Tracks records in flight for one partition.

    The committable offset is the lowest offset still in flight (everything below it is done), or
    one past the highest offset seen when nothing is in flight — Kafka's "next offset to read".
    """

    def __init__(self) -> None:
        self._in_flight: set[int] = set()
        self._next: int | None = None
        self.committed: int | None = None

    def started(self, offset: int) -> None:
        self._in_flight.add(offset)
        if self._next is None or offset >= self._next:
            self._next = offset + 1

    def finished(self, offset: int) -> None:
        self._in_flight.discard(offset)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def committable(self) -> int | None:
        """The offset to commit now, or None when nothing new is safe to commit."""
        if self._next is None:
            return None
        offset = min(self._in_flight) if self._in_flight else self._next
        return None if self.committed is not None and offset <= self.committed else offset


async def learn_committed(
    consumer: AIOKafkaConsumer, offsets: Mapping[TopicPartition, Committed], assigned: list[TopicPartition]
) -> None:
    """The lag gauge counts from the committed offset, also before this worker commits anything."""
    for tp in assigned:
        try:
            committed = await consumer.committed(tp)
        except KafkaError:
            return  # the gauge counts from 0 until this worker's first commit
        partition = offsets.get(tp)
        if partition is not None and partition.committed is None and committed is not None:
            partition.committed = committed


def lag_of(
    highwater: Callable[[TopicPartition], int | None], offsets: Mapping[TopicPartition, Committed]
) -> dict[TopicPartition, int]:
    """Records not yet committed per assigned partition: its high watermark (a consumer's
    ``highwater``, from its fetches) − its committed offset."""
    out: dict[TopicPartition, int] = {}
    for tp, partition in list(offsets.items()):
        end = highwater(tp)
        if end is not None:
            out[tp] = max(0, end - (partition.committed or 0))
    return out
