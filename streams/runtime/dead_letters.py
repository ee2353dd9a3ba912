"""The one way a record goes to ``payments.dlq``: original key and bytes, ``dlq-*`` headers, a metric."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError

from core.pan import mask_card_data
from schemas.dlq import MERCHANT_HEADER, OMITTED_HEADER, DlqReason, dlq_headers
from streams.runtime.metrics import NO_MERCHANT, Metrics

__all__ = ["SourceRecord", "dead_letter", "internal_error", "masked_value"]

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

    A ``pan-detected`` record has its card numbers masked: copying a PAN to another topic spreads it.
    So has a value that is no JSON object (:func:`masked_value`).
    ``merchant`` (its name, when known) labels the metric and goes in the ``dlq-merchant`` header.
    A record too large for the DLQ topic goes without its value and original headers, saying so in
    ``dlq-omitted``: it is still at the source position its ``dlq-source-*`` headers name.
    """
    value = masked_value(record.value, reason)
    # Kafka clients send no record without both: a tombstone without a key gets an empty key
    key = b"" if record.key is None and value is None else record.key
    try:
        await producer.send_and_wait(topic, value, key, headers=_headers(record, reason, error, merchant))
    except (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError) as exc:
        # Retrying cannot help, and the partition must move on: the dead letter goes without the
        # value and the original headers, which stay readable at the source position it names.
        count = len(record.headers or ())
        note = f"the {len(value or b'')}-byte value and {count} original headers: too large for {topic}"
        headers = [
            *_headers(record, reason, error, merchant, original=False),
            (OMITTED_HEADER, note.encode()),
        ]
        await producer.send_and_wait(topic, None, key or b"", headers=headers)
        log.warning("dead letter of %s/%d@%d without %s (%s)", *_where(record), note, type(exc).__name__)
    metrics.dead_letter(reason, merchant)
    log.warning("dead-lettered %s/%d@%d: %s", *_where(record), reason)


def _headers(
    record: SourceRecord, reason: DlqReason, error: str, merchant: str, *, original: bool = True
) -> list[tuple[str, bytes]]:
    headers = dlq_headers(
        reason=reason,
        error=error,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        original=list(record.headers or ()) if original else [],
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


def masked_value(value: bytes | None, reason: DlqReason) -> bytes | None:
    """The value a dead letter carries: ``value`` with every card number and verification code
    masked, unless it is a JSON object refused for another reason than ``pan-detected``.

    Card numbers are found by field name (core.pan find_pan); in a value that is no JSON object
    (an array, broken JSON) no field was ever looked at, so every digit run that may be a card
    number is masked (mask_pans). A JSON object refused for another reason was searched and held
    none: it stays as it was, for a redrive to send the original bytes (a numeric id in it is no
    card number). Only dead letters pay for the decoding.
    """
    if value is None:
        return None
    if reason == "pan-detected" or not _is_json_object(value):
        return mask_card_data(value)  # never redriven (plan.py) or unable to validate
    return value


def _is_json_object(value: bytes) -> bool:
    try:
        return isinstance(orjson.loads(value), dict)
    except orjson.JSONDecodeError:
        return False
