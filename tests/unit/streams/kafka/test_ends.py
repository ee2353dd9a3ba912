"""Where a reader of a partition stops: read read_committed, at the last stable offset a fetch
reports, not at the high watermark, which a producer transaction still open keeps past it until it
ends (forever, for a producer that hung).

Here with the answers real Kafka gives a read_committed reader then (ListOffsets: the last stable
offset). The embedded broker answers ListOffsets 0 there instead, so a reader stopped short rather
than waiting: tests/integration/ops/test_open_transaction.py shows the scans on it.
"""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from streams.kafka.clients import caught_up

TP = TopicPartition("payments.declined", 0)
LISTED, STABLE, HIGHWATER = 3, 3, 5  # offsets 3 and 4: records of a transaction still open


class _Consumer:
    def __init__(self, level: str, position: int, stable: int | None = STABLE) -> None:
        self._isolation_level = level
        self._position = position
        self._stable = stable

    def highwater(self, tp: TopicPartition) -> int:
        return HIGHWATER

    def last_stable_offset(self, tp: TopicPartition) -> int | None:
        return self._stable

    async def position(self, tp: TopicPartition) -> int:
        return self._position


@pytest.mark.parametrize(
    ("level", "position", "stable", "done"),
    [
        ("read_committed", STABLE, STABLE, True),  # all it can read: waiting on would not end
        ("read_committed", STABLE - 1, STABLE, False),
        ("read_uncommitted", STABLE, STABLE, False),  # it reads the open transaction's records too
        ("read_uncommitted", HIGHWATER, STABLE, True),
        ("read_committed", STABLE, None, False),  # a broker too old for transactions: the high watermark
    ],
)
async def test_a_reader_is_caught_up_at_the_end_its_isolation_level_can_read(
    level: str, position: int, stable: int | None, done: bool
) -> None:
    consumer = _Consumer(level, position, stable)
    assert await caught_up(consumer, TP, LISTED) is done  # type: ignore[arg-type]
