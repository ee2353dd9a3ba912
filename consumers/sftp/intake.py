"""Which records go into a batch file, of which merchant, and as what body (pure, no I/O; the batch
consumer's hot path).

The records of the batch path are those ``consumers.split.batch_bound`` gives it (a JSON object
whose merchant routes the flow to SFTP for the record's timestamp; for evaluate files a true
``isMIT``), the bridge reading the same topic and taking every other. Each then passes the full
rule (``consumers.intake.event_from``: no card number, a valid PaymentEvent) into a file, or is
refused with its dead-letter reason, which the batch consumer writes. Per record this is the cost
of the whole batch path; the rule keeps its cheap pre-checks (``isMIT``, card-number scan).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from consumers.flows import Defaults, evaluate_body, transmit_body
from consumers.intake import Refused, event_from, may_hold_pan, spelt_as_configured
from consumers.split import batch_bound
from core.errors import InvalidEvent
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
) -> BatchItem | Refused | None:
    """The merchant, body and eventId of a record for one of its merchant's ``kind`` files; why it
    is refused (its dead letter, the batch path's to write); or None to skip it, the bridge's (not
    routed to SFTP by its merchant's routing for a record produced at ``at_ms``, its Kafka
    timestamp; or no merchant of ours)."""
    bound = batch_bound(raw, kind, merchants, at_ms)
    if bound is None:
        return None
    merchant = bound.merchant
    try:
        assert raw is not None  # batch_bound decoded it  # noqa: S101
        event = spelt_as_configured(event_from(bound.data, may_hold_pan(raw)), merchant)
    except InvalidEvent as exc:
        return Refused(exc.reason, str(exc), merchant)  # type: ignore[arg-type]
    defaults = _defaults(merchant.mid, merchant.site_id, mit_expiry_days)
    body = transmit_body(event, defaults) if kind == "transmit" else evaluate_body(event, defaults)
    return BatchItem(merchant, body, event.event_id)


@lru_cache(maxsize=1024)
def _defaults(mid: str | None, site_id: str | None, mit_expiry_days: int) -> Defaults:
    """A merchant's Defaults, built once rather than for each of its records."""
    return Defaults(mid, site_id, mit_expiry_days)
