"""The one way a record goes to ``payments.dlq``: its key, value and headers (card data masked:
streams/runtime/dlq_masking.py), ``dlq-*`` headers, a metric."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError

from schemas.dlq import MASKED_HEADER, MERCHANT_HEADER, OMITTED_HEADER, DlqReason, dlq_headers
from streams.runtime.dlq_masking import masked_copy
from streams.runtime.metrics import NO_MERCHANT, Metrics

__all__ = ["SourceRecord", "dead_letter", "internal_error"]

log = logging.getLogger(__name__)


class SourceRecord(Protocol):
    """What an aiokafka ConsumerRecord and a Faust Message both have."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]] | None: ...


async def dead_letter(
    producer: AIOKafkaProducer,
    topic: str,
    record: SourceRecord,
    reason: DlqReason,
    error: str,
    metrics: Metrics,
    *,
    merchant: str = NO_MERCHANT,
) -> None:
    """Publish ``record`` to the DLQ ``topic``; returns once the broker acknowledged it.

    Card data is masked wherever the record may carry some (:func:`masked_copy`): in a value refused
    as ``pan-detected``, with a card number in a card field or that is no JSON object, and then in
    the key and the original headers too. ``dlq-masked`` names the parts that were changed: such a
    dead letter is never redriven (streams/ops/plan.py).
    ``merchant`` (its name, when known) labels the metric and goes in the ``dlq-merchant`` header.
    A record too large for the DLQ topic goes without its value and original headers, saying so in
    ``dlq-omitted``: it is still at the source position its ``dlq-source-*`` headers name.
    """
    copy = masked_copy(record.key, record.value, record.headers or (), reason)
    # Kafka clients send no record without both: a tombstone without a key gets an empty key
    key = b"" if copy.key is None and copy.value is None else copy.key
    masked = [(MASKED_HEADER, ", ".join(copy.masked).encode())] if copy.masked else []
    try:
        headers = [*_headers(record, reason, error, merchant, copy.headers), *masked]
        await producer.send_and_wait(topic, copy.value, key, headers=headers)
    except (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError) as exc:
        # Retrying cannot help, and the partition must move on: the dead letter goes without the
        # value and the original headers, which stay readable at the source position it names.
        count = len(copy.headers)
        note = f"the {len(copy.value or b'')}-byte value and {count} original headers: too large for {topic}"
        headers = [*_headers(record, reason, error, merchant, []), *masked, (OMITTED_HEADER, note.encode())]
        await producer.send_and_wait(topic, None, key or b"", headers=headers)
        log.warning("dead letter of %s/%d@%d without %s (%s)", *_where(record), note, type(exc).__name__)
    metrics.dead_letter(reason, merchant)
    log.warning("dead-lettered %s/%d@%d: %s", *_where(record), reason)


def _headers(
    record: SourceRecord, reason: DlqReason, error: str, merchant: str, original: list[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    headers = dlq_headers(
        reason=reason,
        error=error,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        original=original,
    )
    if merchant != NO_MERCHANT:
        headers.append((MERCHANT_HEADER, merchant.encode()))  # the merchant's name (DESIGN.md §2.9)
    return headers


def _where(record: SourceRecord) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


def internal_error(record: SourceRecord, exc: Exception, doing: str) -> str:
    """Log a flexbridge bug met on ``record`` and give the error text of its ``internal-error`` dead
    letter: the exception's class only, as its message may quote the record's data."""
    where = f"{record.topic}/{record.partition}@{record.offset}"
    log.error("internal error on %s while %s: %s", where, doing, type(exc).__name__)
    return f"{type(exc).__name__} while {doing}"
