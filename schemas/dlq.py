"""Dead-letter record headers (DESIGN.md §2.5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from core.pan import redact_pan
from schemas.status import utcnow

__all__ = [
    "DLQ_HEADER_PREFIX",
    "DLQ_REASON",
    "MASKED_HEADER",
    "MERCHANT_HEADER",
    "OMITTED_HEADER",
    "DlqReason",
    "dlq_headers",
    "dlq_source",
]

DLQ_HEADER_PREFIX = "dlq-"
DLQ_REASON = "dlq-reason"
# The name of the record's merchant (DESIGN.md §2.9), when flexbridge knew it.
MERCHANT_HEADER = "dlq-merchant"
# What a dead letter too large for the DLQ topic left out (its value, its original headers).
OMITTED_HEADER = "dlq-omitted"
# Which of the record's parts (value, key, headers) a dead letter holds with card data masked: the
# record cannot be redriven from it, only replayed from its source position.
MASKED_HEADER = "dlq-masked"

DlqReason = Literal[
    "schema",
    "pan-detected",
    "flex-rejected",
    "retries-exhausted",
    "flex-auth",
    "flex-bad-response",
    "internal-error",
    "unknown-merchant",
]


def dlq_headers(
    *,
    reason: DlqReason,
    error: str,
    topic: str,
    partition: int,
    offset: int,
    original: Sequence[tuple[str, bytes]] = (),
) -> list[tuple[str, bytes]]:
    """The original headers (minus stale ``dlq-*`` ones from an earlier failure) plus the DLQ headers.

    ``error`` has its card numbers masked (core.pan redact_pan) before it is cut to 1,000
    characters: a message that quotes a record's data (a mid, a Flex error) must not carry one
    into the DLQ, and a cut after masking cannot leave a card number's first digits in clear.
    """
    kept = [(k, v) for k, v in original if not k.startswith(DLQ_HEADER_PREFIX)]
    return [
        *kept,
        (DLQ_REASON, reason.encode()),
        ("dlq-error", redact_pan(error)[:1000].encode()),
        ("dlq-source-topic", topic.encode()),
        ("dlq-source-partition", str(partition).encode()),
        ("dlq-source-offset", str(offset).encode()),
        ("dlq-failed-at", utcnow().isoformat().encode()),
    ]


def dlq_source(headers: Sequence[tuple[str, bytes]] | None) -> tuple[str, int, int] | None:
    """The topic, partition and offset a dead letter's record was read at (its ``dlq-source-*``
    headers, as :func:`dlq_headers` writes them); None when one is missing or not a number."""
    found = dict(headers or ())
    topic = found.get("dlq-source-topic")
    partition, offset = found.get("dlq-source-partition", b""), found.get("dlq-source-offset", b"")
    if topic is None or not (partition.isdigit() and offset.isdigit()):
        return None
    return topic.decode(errors="replace"), int(partition), int(offset)
