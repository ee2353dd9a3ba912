"""Where a partition ends, on a broker whose ListOffsets under-reports it.

The embedded broker answers ListOffsets (``end_offsets``) with one past the *first* record of the
last batch, so whenever several records were produced in one batch the answer stops short. A
fetch's high watermark is right. :func:`end_of` is the one rule every reader of flexbridge applies
(the larger of the two); :func:`confirmed_ends` gets a fetch's answer for partitions a reader has not
fetched yet, one fetch of each, and :func:`probe_ends` does so with a throwaway reader. On real
Kafka both agree.

A read_committed consumer can read only up to the last stable offset: :func:`fetched_end` is the
end a fetch gives it (the high watermark for a read_uncommitted one).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["confirmed_ends", "end_of", "fetched_end", "probe_ends", "reads_committed"]

PROBE_TIMEOUT_SECONDS = 10.0


def end_of(listed: int, fetched: int | None) -> int:
    """The end of a partition: the larger of a ListOffsets answer and a fetch's (:func:`fetched_end`)."""
    return listed if fetched is None else max(listed, fetched)


def reads_committed(consumer: AIOKafkaConsumer) -> bool:
    """Whether ``consumer`` reads read_committed (aiokafka keeps its isolation level to itself)."""
    return bool(consumer._isolation_level == "read_committed")


def fetched_end(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """How far ``consumer`` can read ``tp``, by its last fetch of it (None before one).

    Read read_committed, the last stable offset: from the first record of a producer transaction
    still open up to the high watermark, nothing is handed out until the transaction ends, so a
    reader that waits for the high watermark waits as long, and forever for a producer that hung.
    Otherwise (or from a broker too old for transactions) the high watermark.
    """
    stable: int | None = consumer.last_stable_offset(tp) if reads_committed(consumer) else None
    highwater: int | None = consumer.highwater(tp)
    return stable if stable is not None and stable >= 0 else highwater


async def confirmed_ends(
    reader: AIOKafkaConsumer,
    listed: Mapping[TopicPartition, int],
    probe: Collection[TopicPartition],
    timeout: float,
) -> dict[TopicPartition, int]:
    """The end of each partition of ``listed`` (ListOffsets answers), those of ``probe`` confirmed by
    a fetch (:func:`fetched_end`) from just before the listed end (a record is there, so the broker
    answers at once). A partition whose fetch gets no answer within ``timeout`` keeps its listed end."""
    if not probe:
        return dict(listed)
    reader.assign(list(listed))
    for tp in probe:
        reader.seek(tp, max(listed[tp] - 1, 0))
    todo = set(probe)
    deadline = time.monotonic() + timeout
    while todo and time.monotonic() < deadline:  # an empty partition's answer waits the fetch wait
        await reader.getmany(*todo, timeout_ms=100, max_records=1)
        todo = {tp for tp in todo if fetched_end(reader, tp) is None}
    return {tp: end_of(end, fetched_end(reader, tp) if tp in probe else None) for tp, end in listed.items()}


async def probe_ends(
    options: dict[str, object], tps: Collection[TopicPartition], timeout: float = PROBE_TIMEOUT_SECONDS
) -> dict[TopicPartition, int]:
    """The end of each of ``tps`` (:func:`confirmed_ends`), read by a throwaway reader. ``options``:
    the aiokafka client options (``streams.kafka.clients.client_options``)."""
    reader = AIOKafkaConsumer(**options, enable_auto_commit=False, fetch_max_wait_ms=50)
    await reader.start()
    try:
        listed: dict[TopicPartition, int] = await reader.end_offsets(list(tps))
        return await confirmed_ends(reader, listed, [tp for tp, end in listed.items() if end > 0], timeout)
    finally:
        await reader.stop()
