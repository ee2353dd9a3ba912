"""``flexbridge dlq list|show``: what is in the dead-letter topic, with card data masked.

``redrive`` is a :class:`~streams.ops.plan.Job` with ``action="redrive"`` over the DLQ topic
(see ``streams/ops/cli.py``): the same plan, guards, audit and resume as a replay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import TopicPartition

from consumers.intake import mid_of
from core.pan import mask_card_data, redact_pan
from core.settings import Settings
from schemas.dlq import DLQ_REASON, MERCHANT_HEADER
from streams.ops.merchant_names import merchant_name, merchant_names
from streams.ops.scan import Record, ReplayError, open_reader, partitions_of, resolve_ranges, scan, true_ends
from streams.ops.selection import Selection, matches
from streams.runtime.metrics import NO_MERCHANT

__all__ = [
    "ReasonGroup",
    "by_merchant",
    "describe_record",
    "list_dead_letters",
    "merchant_of",
    "parse_position",
    "show_dead_letter",
]


@dataclass
class ReasonGroup:
    reason: str
    count: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    first_failed_at: str | None = None
    last_failed_at: str | None = None
    example: str | None = None  # partition:offset of the latest one, for `dlq show`
    merchants: Counter[str] = field(default_factory=Counter)  # by merchant_of

    def add(self, record: Record, headers: dict[str, str], merchant: str) -> None:
        self.count += 1
        self.sources[headers.get("dlq-source-topic", "?")] += 1
        self.merchants[merchant] += 1
        failed = headers.get("dlq-failed-at")  # ISO 8601 in UTC: ordered as text
        if failed:
            self.first_failed_at = min(self.first_failed_at or failed, failed)
        # the latest by its failure time: the partitions are read one after another
        if not failed or failed >= (self.last_failed_at or ""):
            self.last_failed_at = failed or self.last_failed_at
            self.example = f"{record.partition}:{record.offset}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "count": self.count,
            "sources": dict(self.sources),
            "firstFailedAt": self.first_failed_at,
            "lastFailedAt": self.last_failed_at,
            "latest": self.example,
            "merchants": dict(self.merchants),
        }


def _headers(record: Record) -> dict[str, str]:
    """The headers as text; a header with a null value (Kafka allows one) as ``""``."""
    return {k: v.decode(errors="replace") if v is not None else "" for k, v in (record.headers or ())}


async def list_dead_letters(settings: Settings, sel: Selection | None = None) -> list[ReasonGroup]:
    """The dead letters ``sel`` selects (default: all) grouped by ``dlq-reason``, most frequent
    first, each counted by merchant."""
    sel = sel or Selection(topic=settings.topics.dlq)
    reader = await open_reader(settings)
    groups: dict[str, ReasonGroup] = {}
    names = merchant_names()
    try:
        ranges = await resolve_ranges(reader, sel)
        async for record in scan(reader, sel.topic, ranges):
            if not matches(sel, record.key, record.value, record.timestamp, record.headers or ()):
                continue
            headers = _headers(record)
            reason = headers.get(DLQ_REASON, "unknown")
            merchant = merchant_of(record, headers, names)
            groups.setdefault(reason, ReasonGroup(reason)).add(record, headers, merchant)
    finally:
        await reader.stop()
    return sorted(groups.values(), key=lambda g: (-g.count, g.reason))


def merchant_of(record: Record, headers: dict[str, str], names: dict[str, str] | None = None) -> str:
    """A dead letter's merchant: its ``dlq-merchant`` header (the name), else the ``mid`` its value
    carries, by the merchants file's name for it (``names``: :func:`merchant_names`; a dead letter
    written before workers named the merchant of a refused record) or as ``mid …`` (e.g. an unknown
    merchant's), else ``(unknown)``, as the metrics label it."""
    name = headers.get(MERCHANT_HEADER)
    if name:
        return name
    try:
        value = orjson.loads(record.value) if record.value is not None else None
    except orjson.JSONDecodeError:
        return NO_MERCHANT
    mid = mid_of(value)
    if not mid:
        return NO_MERCHANT
    return merchant_name(mid, names or {}) or f"mid {redact_pan(mid)}"


def by_merchant(groups: list[ReasonGroup]) -> dict[str, Counter[str]]:
    """merchant → reason → count, most dead letters first."""
    merchants: dict[str, Counter[str]] = {}
    for group in groups:
        for merchant, count in group.merchants.items():
            merchants.setdefault(merchant, Counter())[group.reason] += count
    return dict(sorted(merchants.items(), key=lambda m: (-m[1].total(), m[0])))


def parse_position(text: str) -> tuple[int, int]:
    """``3:17`` → partition 3, offset 17."""
    part, sep, off = text.partition(":")
    if not sep or not part.isdigit() or not off.isdigit():
        raise ValueError(f"bad record position {text!r}: expected PARTITION:OFFSET, e.g. 0:17")
    return int(part), int(off)


async def show_dead_letter(settings: Settings, partition: int, offset: int) -> dict[str, Any]:
    """One dead letter: position, key, headers decoded, value with every card number masked."""
    topic = settings.topics.dlq
    reader = await open_reader(settings)
    try:
        if partition not in await partitions_of(reader, topic):
            raise ReplayError(f"{topic} has no partition {partition}")
        tp = TopicPartition(topic, partition)
        end = (await true_ends(reader, [tp]))[tp]  # the embedded broker's ListOffsets stops short
        async for record in scan(reader, topic, {partition: (offset, min(offset + 1, end))}):
            return describe_record(record)
    finally:
        await reader.stop()
    raise ReplayError(f"{topic} has no record at {partition}:{offset}")


def describe_record(record: Record) -> dict[str, Any]:
    """What ``dlq show`` prints of a record, card numbers masked in all of it. The value's raw bytes
    are masked before they are decoded: mask_pans reads digits spelled as ``\\u`` escapes too, so
    the decoded text shows none in clear (tests/unit/streams/ops/test_dlq_show.py)."""
    raw = mask_card_data(record.value) if record.value is not None else None
    value: Any
    try:
        value = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        value = raw.decode(errors="replace") if raw is not None else None
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat(),
        "key": redact_pan(record.key.decode(errors="replace")) if record.key is not None else None,
        "headers": {k: redact_pan(v) for k, v in _headers(record).items()},
        "value": value,
    }
