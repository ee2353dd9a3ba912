"""Read a window of a topic: resolve it to fixed offset ranges per partition, then scan them.

The ranges are fixed before anything is sent (end offsets taken once), so a replay into its own
source topic never reads what it wrote, and a resumed replay covers exactly the same records.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from core.errors import FlexbridgeError
from core.settings import Settings
from streams.kafka.clients import make_consumer, started
from streams.kafka.ends import confirmed_ends, reads_committed
from streams.ops.selection import Selection

__all__ = [
    "NoSuchTopic",
    "Ranges",
    "Record",
    "ReplayError",
    "end_offsets",
    "open_reader",
    "partitions_of",
    "resolve_ranges",
    "scan",
    "target_topic",
    "true_ends",
]

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]
Ranges: TypeAlias = dict[int, tuple[int, int]]  # partition -> [start, end)

_PROBE_SECONDS = 3.0  # how long true_ends waits for a fetch's answer before trusting ListOffsets


class ReplayError(FlexbridgeError):
    reason = "replay"


class NoSuchTopic(ReplayError):
    """``topic`` does not exist (or has no partitions): a caller that took its name from a setting
    names the setting (streams/ops/outcomes.py, streams/ops/cli.py)."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} does not exist (or has no partitions)")
        self.topic = topic


async def open_reader(settings: Settings, *, read_uncommitted: bool = False) -> AIOKafkaConsumer:
    """A reader without a group, reading as the settings say, or ``read_uncommitted`` (flexbridge's
    own records, past a producer transaction still open: see ``streams/ops/replay.py``). It stops at
    the end, so it takes the configured fetch wait: its last, empty fetch is held that long."""
    k = settings.kafka
    if read_uncommitted:
        k = k.model_copy(update={"isolation_level": "read_uncommitted"})
    return await started(make_consumer(k, offset_reset="latest", reads_to_end=True))


async def partitions_of(reader: AIOKafkaConsumer, topic: str) -> list[int]:
    parts = reader.partitions_for_topic(topic)
    if not parts:  # once a reader has an assignment, its metadata covers only the assigned topics
        parts = (await reader._client.fetch_all_metadata()).partitions_for_topic(topic)
    if not parts:
        raise NoSuchTopic(topic)
    return sorted(parts)


async def target_topic(reader: AIOKafkaConsumer, topic: str) -> None:
    """``--to-topic`` exists: a plan into a topic that does not would only fail on ``--execute``."""
    try:
        await partitions_of(reader, topic)
    except ReplayError:
        raise ReplayError(
            f"--to-topic {topic}: topic does not exist (or has no partitions): create it, or name another"
        ) from None


async def end_offsets(reader: AIOKafkaConsumer, topic: str) -> dict[int, int]:
    tps = [TopicPartition(topic, p) for p in await partitions_of(reader, topic)]
    ends = await true_ends(reader, tps)
    return {tp.partition: off for tp, off in ends.items()}


async def true_ends(reader: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """End offsets, confirmed by a fetch (:func:`~streams.kafka.ends.fetched_end`: read read_committed,
    the last stable offset, so a scan never waits for a producer transaction still open). The
    embedded broker's ListOffsets answers one past the first record of the last batch, not one past
    its last record; read_committed, it answers 0 while a transaction is open, so every partition is
    confirmed then, even one it says is empty."""
    listed = await reader.end_offsets(tps)
    probe = [tp for tp in tps if listed[tp] > 0 or reads_committed(reader)]
    ends = await confirmed_ends(reader, listed, probe, _PROBE_SECONDS)
    _say_held_back(reader, probe)
    return ends


def _say_held_back(reader: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
    """Warn of each partition whose end a producer transaction still open holds back (read
    read_committed, its last stable offset is below its high watermark), so that an operator knows
    that records lie past what the scan reads."""
    if not reads_committed(reader):
        return
    for tp in tps:
        stable, highwater = reader.last_stable_offset(tp), reader.highwater(tp)
        if stable is not None and highwater is not None and 0 <= stable < highwater:
            log.warning(
                "%s[%d] is read up to its last stable offset %d: a producer transaction still open "
                "holds back the records from there to the high watermark %d until it ends",
                tp.topic,
                tp.partition,
                stable,
                highwater,
            )


async def _record_time(reader: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> int | None:
    reader.assign([tp])
    reader.seek(tp, offset)
    batch = await reader.getmany(tp, timeout_ms=2000, max_records=1)
    records = batch.get(tp, [])
    return records[0].timestamp if records else None


async def _start_at(reader: AIOKafkaConsumer, tp: TopicPartition, begin: int, end: int, ms: int) -> int:
    """The first offset at or after time ``ms``, checked: a broker answer that skips a record of the
    window (the embedded broker answers by append time) falls back to scanning from the beginning."""
    try:
        found = (await reader.offsets_for_times({tp: ms}))[tp]
    except KafkaError as exc:
        log.info("offsets_for_times unavailable (%s); filtering by timestamp while scanning", exc)
        return begin
    if found is None or found.timestamp < 0 or found.offset <= begin:
        return begin
    before = await _record_time(reader, tp, min(found.offset, end) - 1)
    return begin if before is None or before >= ms else min(found.offset, end)


async def resolve_ranges(reader: AIOKafkaConsumer, sel: Selection) -> Ranges:
    """Fixed [start, end) offsets per selected partition for the selection's window."""
    parts = await partitions_of(reader, sel.topic)
    unknown = sorted(set(sel.partitions) - set(parts))
    if unknown:
        raise ReplayError(f"topic {sel.topic!r} has partitions {parts}, not {unknown}")
    tps = [TopicPartition(sel.topic, p) for p in (sel.partitions or parts)]
    begin, end = await reader.beginning_offsets(tps), await true_ends(reader, tps)
    ranges = {tp.partition: (begin[tp], end[tp]) for tp in tps}
    if sel.from_ms is not None:  # the end of a time window is filtered while scanning
        for tp in tps:
            start, stop = ranges[tp.partition]
            ranges[tp.partition] = (await _start_at(reader, tp, start, stop, sel.from_ms), stop)
    if sel.from_offset is not None:
        ranges = {p: (max(a, sel.from_offset), b) for p, (a, b) in ranges.items()}
    if sel.to_offset is not None:
        ranges = {p: (a, min(b, sel.to_offset + 1)) for p, (a, b) in ranges.items()}
    return {p: (a, max(a, b)) for p, (a, b) in ranges.items()}


async def scan(reader: AIOKafkaConsumer, topic: str, ranges: Ranges) -> AsyncIterator[Record]:
    """Every record of ``topic`` inside ``ranges``, partition by partition interleaved as fetched."""
    todo = {TopicPartition(topic, p): end for p, (start, end) in ranges.items() if end > start}
    if not todo:
        return
    reader.assign(list(todo))
    for tp in todo:
        reader.seek(tp, ranges[tp.partition][0])
    while todo:
        batches = await reader.getmany(*todo, timeout_ms=500, max_records=500)
        for tp, records in batches.items():
            for record in records:
                if record.offset < todo[tp]:
                    yield record
        for tp in list(todo):
            if await reader.position(tp) >= todo[tp]:
                del todo[tp]
