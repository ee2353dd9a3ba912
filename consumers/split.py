"""Which of the two readers of an input topic takes a record: the one rule they share.

Two consumer groups read ``payments.approved`` and ``payments.declined``: the real-time bridge
(streams/runtime/bridge.py) and the SFTP batch path (streams/runtime/batch/consumer.py). A record is
the batch path's when :func:`batch_bound` says so, and the bridge's otherwise; whoever takes it
gives it its one outcome, its dead letter included (a PaymentEvent that does not validate, a card
number).

The rule reads only what routes a record: its ``isMIT`` (declines), its ``mid`` and so its
merchant, and that merchant's routing for the record's Kafka timestamp (``routing.since``,
core/routing.py). It reads them as PaymentEvent does (schemas/events.py ``event_field``: the
model's own key spellings, field types and config), so for a valid event it agrees with the full rule
(``consumers.intake.route_to_merchant``) on every record: the batch path's are exactly the valid
events the full rule routes to SFTP, and the refused records it adds are dead-lettered there. It
does not validate the rest of the event, nor look for card numbers. So a release that changes
what a valid event is (the schema, the card-number check) changes nothing here, and its rolling
deploy, with readers of both releases side by side, still gives each record to one reader.
Only a change to this rule (here, or in how PaymentEvent reads ``isMIT`` and ``mid``) needs every
worker stopped first (docs/operations.md).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import ValidationError

from consumers.intake import Flow, may_name_mit, mid_of
from core.errors import InvalidEvent
from core.merchants import Merchant, Merchants
from schemas.codec import decode_object
from schemas.events import event_field

__all__ = ["Bound", "batch_bound"]


class Bound(NamedTuple):
    """A record for the batch path: its decoded value (not validated yet) and its merchant."""

    data: dict[str, Any]
    merchant: Merchant


def batch_bound(raw: bytes | None, flow: Flow, merchants: Merchants, at_ms: int = -1) -> Bound | None:
    """The record ``raw`` of ``flow``'s topic, produced at ``at_ms`` (its Kafka timestamp), when it is
    the batch path's: a JSON object whose merchant routes the flow to SFTP at ``at_ms`` (for
    declines, a true ``isMIT`` too); else None, and the bridge takes it. A value that is no JSON
    object, or whose ``isMIT`` PaymentEvent could not read, is the bridge's; one whose ``mid`` it
    could not read counts as naming none (``mid_of``): invalid either way, dead-lettered by its taker."""
    if flow == "evaluate" and not may_name_mit(raw):  # most declines: no isMIT key, without decoding
        return None
    try:
        data = decode_object(raw)
    except InvalidEvent:
        return None
    if flow == "evaluate" and not _is_mit(data):
        return None
    merchant = merchants.for_event(mid_of(data))
    if merchant is None:
        return None
    routing = merchant.routing
    route = routing.transmit_at(at_ms) if flow == "transmit" else routing.mit_at(at_ms)
    return Bound(data, merchant) if route == "sftp" else None


def _is_mit(data: dict[str, Any]) -> bool:
    """The decoded event's ``isMIT`` as PaymentEvent reads it; False when the model cannot read it
    (the event is invalid, and the bridge's)."""
    try:
        return event_field(data, "is_mit") is True
    except ValidationError:
        return False
