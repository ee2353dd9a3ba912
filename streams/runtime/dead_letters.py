"""The one way a record goes to ``payments.dlq``: original key and bytes, ``dlq-*`` headers, a metric."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer

from core.pan import mask_pans
from schemas.dlq import MERCHANT_HEADER, DlqReason, dlq_headers
from streams.runtime.metrics import NO_MERCHANT, Metrics

__all__ = ["SourceRecord", "dead_letter"]

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
    ``merchant`` (its name, when known) labels the metric and goes in the ``dlq-merchant`` header.
    """
    value = record.value
    if reason == "pan-detected" and value is not None:
        value = mask_pans(value)
    headers = dlq_headers(
        reason=reason,
        error=error,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        original=list(record.headers or ()),
    )
    if merchant != NO_MERCHANT:
        headers.append((MERCHANT_HEADER, merchant.encode()))  # the merchant's name (DESIGN.md §2.9)
    await producer.send_and_wait(topic, value, record.key, headers=headers)
    metrics.dead_letter(reason, merchant)
    log.warning("dead-lettered %s/%d@%d: %s", record.topic, record.partition, record.offset, reason)
