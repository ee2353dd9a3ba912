"""Which records go into a batch file, of which merchant, and as what body (pure, no I/O; the batch
consumer's hot path).

A record goes into a file only if the real-time bridge leaves it to the batch path: the rule is
``consumers.intake.to_batch_files``, the one the bridge asks (a JSON object, no card number, a
valid PaymentEvent, and for evaluate files a managed MIT; the event's merchant,
``Merchants.for_event``, DESIGN.md §2.9, routes that flow to SFTP). Anything else is skipped here:
the bridge reads the same topic and calls Flex for it or dead-letters it (an unknown merchant
included). Per record this is the cost of the whole batch path; the shared rule keeps its cheap
pre-checks (``isMIT``, card-number scan).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from consumers.flows import Defaults, evaluate_body, transmit_body
from consumers.intake import to_batch_files
from core.merchants import Merchant, Merchants
from schemas.batch import BatchKind

__all__ = ["BatchItem", "batch_item"]


class BatchItem(NamedTuple):
    """One record's place in a batch file: its merchant, its Flex request body and its eventId."""

    merchant: Merchant
    body: dict[str, Any]
    event_id: str


def batch_item(
    kind: BatchKind, raw: bytes | None, merchants: Merchants, mit_expiry_days: int, at_ms: int = -1
) -> BatchItem | None:
    """The merchant, body and eventId of a record for one of its merchant's ``kind`` files, or None
    to skip it (not routed to SFTP by its merchant's routing for a record produced at ``at_ms``, its
    Kafka timestamp; or no merchant of ours)."""
    routed = to_batch_files(raw, kind, merchants, at_ms)
    if routed is None or routed.merchant is None:
        return None
    event, merchant = routed.event, routed.merchant
    defaults = _defaults(merchant.mid, merchant.site_id, mit_expiry_days)
    body = transmit_body(event, defaults) if kind == "transmit" else evaluate_body(event, defaults)
    return BatchItem(merchant, body, event.event_id)


@lru_cache(maxsize=1024)
def _defaults(mid: str | None, site_id: str | None, mit_expiry_days: int) -> Defaults:
    """A merchant's Defaults, built once rather than for each of its records."""
    return Defaults(mid, site_id, mit_expiry_days)
