"""Where a partition ends, on a broker whose ListOffsets under-reports it.

The embedded broker answers ListOffsets (``end_offsets``) with one past the *first* record of the
last batch, so whenever several records were produced in one batch the answer stops short. A
fetch's high watermark is right. :func:`end_of` is the one rule every reader of flexbridge applies
(the larger of the two); :func:`probe_ends` gets a high watermark for partitions a consumer has not
fetched yet, with one fetch of each from a throwaway reader. On real Kafka both agree.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["end_of", "probe_ends"]

PROBE_TIMEOUT_SECONDS = 10.0


def end_of(listed: int, highwater: int | None) -> int:
    """The end of a partition: the larger of a ListOffsets answer and a fetch's high watermark."""
    return listed if highwater is None else max(listed, highwater)


async def probe_ends(
    options: dict[str, object], tps: Collection[TopicPartition], timeout: float = PROBE_TIMEOUT_SECONDS
) -> dict[TopicPartition, int]:
    """The end of each of ``tps``: ListOffsets corrected by the high watermark of one fetch from just
    before the listed end (a record is there, so the broker answers at once). ``options``: the
    aiokafka client options (``streams.kafka.clients.client_options``). A partition whose fetch gets
    no answer within ``timeout`` keeps its listed end."""
    reader = AIOKafkaConsumer(**options, enable_auto_commit=False, fetch_max_wait_ms=50)
    await reader.start()
    try:
        reader.assign(list(tps))
        listed: dict[TopicPartition, int] = await reader.end_offsets(list(tps))
        for tp, end in listed.items():
            reader.seek(tp, max(end - 1, 0))
        todo = {tp for tp, end in listed.items() if end > 0}
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            await reader.getmany(*todo, timeout_ms=200, max_records=1)
            todo = {tp for tp in todo if reader.highwater(tp) is None}
        return {tp: end_of(end, reader.highwater(tp)) for tp, end in listed.items()}
    finally:
        await reader.stop()
