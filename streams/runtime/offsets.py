"""Which offset of a partition is safe to commit when records finish out of order; how far, in
records and in seconds, a committed offset is behind the partition's end."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

__all__ = ["Committed", "EndTimes", "PartitionOffsets", "Passes", "lag_of", "learn_committed", "pass_markers"]


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

    def passed(self, position: int) -> None:
        """Its consumer reads on from ``position``: nothing before it is left to start."""
        if self._next is None or position > self._next:
            self._next = position

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
            continue  # the gauge counts from 0 until this worker's first commit of it
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


class Passes(Protocol):
    """A partition's reading state that can be moved past what its consumer skipped."""

    def passed(self, position: int) -> None: ...


async def pass_markers(consumer: AIOKafkaConsumer, parts: Mapping[TopicPartition, Passes]) -> None:
    """Move each partition to where ``consumer`` reads it next: past every record it handed out,
    and past the transaction markers and aborted records it skipped, which a record's offset + 1
    stops before (a transactional producer's last commit marker would keep a quiet partition's
    commit one short for ever). Call only when every record it handed out was taken. A partition
    not fetched yet, whose position may not be known, is left."""
    for tp, part in list(parts.items()):
        if consumer.highwater(tp) is None:
            continue
        try:
            position: int = await consumer.position(tp)
        except IllegalStateError:  # no longer assigned
            continue
        part.passed(position)


class EndTimes:
    """When a partition's end (its reader's fetch high watermark) passed which offset: how long the
    oldest record past a committed offset has waited, from what the reader saw itself rather than
    from the records' timestamps (an upstream producer sets them) or another consumer's pace.

    Sampled when the gauges are refreshed; two samples within :attr:`EVERY` seconds are kept as one,
    counted from the first (a record's wait may be over-counted by that much). Once :attr:`KEEP`
    samples are held (an hour's worth at least), the newest is moved forward instead, so the oldest
    stays exact and later ones may be under-counted. A partition's first sample is the time this
    worker first saw it: a backlog it took over counts from then."""

    EVERY = 5.0
    KEEP = 720

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()  # (time, end), oldest first

    def saw(self, end: int | None, now: float) -> None:
        samples = self._samples
        if end is None or (samples and end <= samples[-1][1]):
            return
        if samples and now - samples[-1][0] < self.EVERY:
            samples[-1] = (samples[-1][0], end)
        elif len(samples) >= self.KEEP:
            samples[-1] = (now, end)
        else:
            samples.append((now, end))

    def waited(self, committed: int, now: float) -> float:
        """Seconds since the end first passed ``committed``: 0 once the commit reached the end."""
        samples = self._samples
        while samples and samples[0][1] <= committed:
            samples.popleft()
        return now - samples[0][0] if samples else 0.0
