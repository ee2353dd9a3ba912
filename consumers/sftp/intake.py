"""Which records go into a batch file, of which merchant, and as what body (pure, no I/O; the batch
consumer's hot path).

A record goes into a file only if the real-time bridge would route it to SFTP: the rule is
``consumers.intake.decode_and_route``, shared with the bridge (a JSON object, no card number, a
valid PaymentEvent, and for evaluate files a managed MIT), then the event's merchant
(``Merchants.for_event``, DESIGN.md §2.9) and that merchant's routing. Anything else is skipped
here: the bridge reads the same topic and calls Flex for it or dead-letters it (an unknown
merchant included). Per record this is the cost of the whole batch path; the shared rule keeps its
cheap pre-checks (``isMIT``, card-number scan).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from consumers.flows import Defaults, evaluate_body, transmit_body
from consumers.intake import decode_and_route, route_of
from core.merchants import Merchant, Merchants
from core.settings import RoutingSettings
from schemas.batch import BatchKind

__all__ = ["BatchItem", "batch_body", "batch_item"]

# The batch consumer reads only the topics routed to SFTP, so a ``kind`` file takes its flow's
# records that the SFTP routing of that flow sends to a file.
_TO_FILES = RoutingSettings(mit="sftp", transmit="sftp")


class BatchItem(NamedTuple):
    """One record's place in a batch file: its merchant, its Flex request body and its eventId."""

    merchant: Merchant
    body: dict[str, Any]
    event_id: str


def batch_body(kind: BatchKind, raw: bytes | None, defaults: Defaults) -> tuple[dict[str, Any], str] | None:
    """The Flex request body and eventId of a record for a ``kind`` file, or None to skip it."""
    routed = decode_and_route(raw, kind, _TO_FILES, only="sftp")
    if routed is None:
        return None
    event = routed.event
    body = transmit_body(event, defaults) if kind == "transmit" else evaluate_body(event, defaults)
    return body, event.event_id


def batch_item(
    kind: BatchKind, raw: bytes | None, merchants: Merchants, mit_expiry_days: int
) -> BatchItem | None:
    """The merchant, body and eventId of a record for one of its merchant's ``kind`` files, or None
    to skip it (not routed to SFTP by its merchant's routing, or no merchant of ours)."""
    routed = decode_and_route(raw, kind, _TO_FILES, only="sftp")
    if routed is None:
        return None
    event = routed.event
    merchant = merchants.for_event(event.mid)
    if merchant is None or route_of(kind, event, merchant.routing) != "sftp":
        return None
    defaults = _defaults(merchant.mid, merchant.site_id, mit_expiry_days)
    body = transmit_body(event, defaults) if kind == "transmit" else evaluate_body(event, defaults)
    return BatchItem(merchant, body, event.event_id)


@lru_cache(maxsize=1024)
def _defaults(mid: str | None, site_id: str | None, mit_expiry_days: int) -> Defaults:
    """A merchant's Defaults, built once rather than for each of its records."""
    return Defaults(mid, site_id, mit_expiry_days)
