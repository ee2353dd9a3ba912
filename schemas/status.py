"""OrderStatus: what flexbridge publishes on ``orders.status`` (DESIGN.md §2.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from core.pan import redact_pan

__all__ = ["FLEX_STATUSES", "OrderStatus", "Source", "Status", "status_of", "utcnow"]

Status = Literal[
    "PENDING",
    "SUBMITTED",
    "APPROVED",
    "DECLINED",
    "CHALLENGE",
    "CAPTUREREQUIRED",
    "EXPIRED",
    "CANCELLED",
    "REFUNDED",
    "CHARGEBACK",
    "REJECTED",
    "FAILED",
]
Source = Literal["evaluate", "batch", "webhook", "command", "bridge", "reconcile"]

# Statuses an /evaluate answer may carry that map one to one onto an OrderStatus.
FLEX_STATUSES: frozenset[str] = frozenset(
    {"APPROVED", "DECLINED", "CHALLENGE", "CAPTUREREQUIRED", "SUBMITTED"}
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class OrderStatus(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    order_id: str
    order_session_key: str | None = None
    status: Status
    source: Source
    event_id: str
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    reason: str | None = None
    detail: dict[str, Any] = Field(
        default_factory=dict,
        description="source-specific extras; detail.mid names the order's merchant (its MID) when one is "
        "configured: two merchants' orders of one orderId are told apart by it; detail.late (true) marks "
        "Flex's answer to an /evaluate published after later news of the same Flex order: keep it as the "
        "event's outcome, and apply it only where it can follow the order's state as you hold it; "
        "detail.amount (cents) and detail.currency, on an answered /evaluate's status and a batch record's "
        "PENDING, are the event's transaction amount and currency: what the order was authorised for",
    )


def status_of(
    order_id: str,
    status: Status,
    source: Source,
    event_id: str,
    *,
    session_key: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    validate: bool = True,
) -> OrderStatus:
    """The one way to build an OrderStatus (``occurred_at`` defaults to now).

    ``validate=False`` skips pydantic's checks (``model_construct``): only for values that are
    valid already, on a hot path (a webhook, a batch file's statuses).

    ``reason`` has its card numbers masked, whatever the source: it is free text, often quoting
    what a producer or Flex gave (an orderId, a mid, Flex's error text), and goes to
    ``orders.status``, which other services read, and into the order's history. The structured
    fields are kept as given: consumers correlate on them.
    """
    fields: dict[str, Any] = {
        "order_id": order_id,
        "order_session_key": session_key,
        "status": status,
        "source": source,
        "event_id": event_id,
        "occurred_at": occurred_at or utcnow(),
        "reason": redact_pan(reason) if reason is not None else None,
        "detail": detail or {},
    }
    return OrderStatus(**fields) if validate else OrderStatus.model_construct(**fields)
