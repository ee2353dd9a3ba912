"""Which offset of a partition is safe to commit when records finish out of order."""

from __future__ import annotations

__all__ = ["PartitionOffsets"]


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
