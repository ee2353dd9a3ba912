"""The two real-time flows: approvals → /v1/transmit, declines → /v1/evaluate.

Plain async functions with the Flex client injected; they never raise for data or Flex answers —
every case becomes an :class:`Outcome`. The bodies they send are deterministic functions of the
event (the MIT expiry default is counted from ``occurredAt``, not from now), so a redelivery sends
the same body under the same idempotency key and Flex answers it without a second effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from pydantic import AwareDatetime, TypeAdapter

from consumers.flex.errors import FlexAuthFailed, FlexConflict, FlexError, FlexRejected
from consumers.keys import event_key
from consumers.outcome import Outcome
from schemas.dlq import DlqReason
from schemas.events import PaymentEvent
from schemas.flex import EvaluateResponse, TransmitResponse
from schemas.status import FLEX_STATUSES, OrderStatus, Status, status_of

__all__ = [
    "Defaults",
    "FlowClient",
    "amount_detail",
    "evaluate_body",
    "evaluate_decline",
    "mit_expiry",
    "transmit_approval",
    "transmit_body",
]


class FlowClient(Protocol):
    async def transmit(self, body: dict[str, Any]) -> TransmitResponse: ...
    async def evaluate(self, body: dict[str, Any]) -> EvaluateResponse: ...


@dataclass(frozen=True)
class Defaults:
    """A merchant's defaults: its ``mid`` and ``siteId`` fill a body that has none, and ``mid`` is
    the status ``detail.mid`` that ties the order to its merchant."""

    mid: str | None = None
    site_id: str | None = None
    mit_expiry_days: int = 14


def transmit_body(event: PaymentEvent, defaults: Defaults) -> dict[str, Any]:
    body = event.flex_body(mid=defaults.mid, site_id=defaults.site_id)
    body["isDeclined"] = False
    body.setdefault("isMIT", event.is_mit)
    return body


def evaluate_body(event: PaymentEvent, defaults: Defaults) -> dict[str, Any]:
    body = event.flex_body(mid=defaults.mid, site_id=defaults.site_id)
    body["isDeclined"] = True
    body["idempotencyKey"] = event_key(event.event_id)
    body.setdefault("isMIT", event.is_mit)
    if event.is_mit and event.expiry_date_utc is None:
        body["expiryDateUtc"] = mit_expiry(event.occurred_at, defaults.mit_expiry_days)
    return body


def mit_expiry(occurred_at: datetime, days: int) -> str:
    """``occurred_at`` plus ``days`` in ISO 8601, UTC as ``Z``: the text of
    ``(occurred_at + timedelta(days=days)).isoformat().replace("+00:00", "Z")`` at a third of its cost
    (pydantic's serializer writes it in one call; tests/unit/consumers/test_flows.py holds the two
    equal), for every managed MIT decline of a batch file."""
    text: str = _AS_JSON(occurred_at + _days(days), mode="json")
    return text


@lru_cache(maxsize=16)
def _days(days: int) -> timedelta:
    return timedelta(days=days)


_AS_JSON = TypeAdapter(AwareDatetime).serializer.to_python


async def transmit_approval(event: PaymentEvent, flex: FlowClient, defaults: Defaults) -> Outcome:
    try:
        answer = await flex.transmit(transmit_body(event, defaults))
    except FlexRejected as exc:
        return Outcome("rejected", dead_letter=("flex-rejected", str(exc)))
    except FlexError as exc:
        return Outcome("failed", dead_letter=(_give_up_reason(exc), str(exc)))
    return Outcome("transmitted", finished={"flow": "transmit", "transmitId": answer.transmit_id})


async def evaluate_decline(event: PaymentEvent, flex: FlowClient, defaults: Defaults) -> Outcome:
    key = event_key(event.event_id)
    try:
        answer = await flex.evaluate(evaluate_body(event, defaults))
    except FlexRejected as exc:
        detail = {"httpStatus": exc.status_code, "errors": exc.errors, "idempotencyKey": key}
        reason = _conflict(event) if isinstance(exc, FlexConflict) else str(exc)
        status = _status(event, "REJECTED", reason=reason, detail=_with_mid(detail, defaults))
        return Outcome("rejected", status=status, dead_letter=("flex-rejected", reason))
    except FlexError as exc:
        detail = _with_mid({"idempotencyKey": key}, defaults)
        status = _status(event, "FAILED", reason=str(exc), detail=detail)
        return Outcome("failed", status=status, dead_letter=(_give_up_reason(exc), str(exc)))
    flex_status = (answer.status or "").upper()
    mapped: Status = flex_status if flex_status in FLEX_STATUSES else "SUBMITTED"  # type: ignore[assignment]
    told = {"flexStatus": answer.status, "idempotencyKey": key, **amount_detail(event.transaction)}
    detail = _with_mid(told, defaults)
    status = _status(event, mapped, session=answer.order_session_key, detail=detail)
    entry = {"flow": "evaluate", "status": mapped, "orderSessionKey": answer.order_session_key}
    return Outcome("evaluated", status=status, finished=entry)


def amount_detail(transaction: Any) -> dict[str, Any]:
    """``amount`` (cents) and ``currency`` of an event's ``transaction``, each only as Flex takes it
    (a whole number above 0; three letters, upper-cased). The status of an order Flex took (an
    answered ``/evaluate``, a batch record's ``PENDING``) carries them in its ``detail``, so the
    order state knows what was authorised (consumers/order_machine.py) and a refund or capture is
    checked without reading Flex's order first."""
    found: dict[str, Any] = {}
    if not isinstance(transaction, dict):
        return found
    amount, currency = transaction.get("amount"), transaction.get("currency")
    if isinstance(amount, int) and not isinstance(amount, bool) and amount > 0:
        found["amount"] = amount
    if isinstance(currency, str) and len(currency) == 3 and currency.isalpha():
        found["currency"] = currency.upper()
    return found


def _conflict(event: PaymentEvent) -> str:
    """Why Flex answered 409: the eventId's key went with another body before, most often an
    eventId used twice (by two merchants: it must be unique across all, docs/processors.md)."""
    return (
        f"idempotency key reused with a different body: eventId {event.event_id} was sent before "
        "with another body (eventIds must be unique across all merchants)"
    )


def _with_mid(detail: dict[str, Any], defaults: Defaults) -> dict[str, Any]:
    """``detail.mid``: the merchant the order belongs to (its commands run as that merchant)."""
    return {**detail, "mid": defaults.mid} if defaults.mid else detail


def _give_up_reason(exc: FlexError) -> DlqReason:
    if exc.retriable:
        return "retries-exhausted"
    return "flex-auth" if isinstance(exc, FlexAuthFailed) else "flex-bad-response"


def _status(
    event: PaymentEvent,
    status: Status,
    *,
    session: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> OrderStatus:
    return status_of(
        event.order_id, status, "evaluate", event.event_id, session_key=session, reason=reason, detail=detail
    )
