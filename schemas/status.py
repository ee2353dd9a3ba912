"""OrderStatus: what flexbridge publishes on ``orders.status`` (DESIGN.md §2.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["FLEX_STATUSES", "OrderStatus", "Source", "Status", "utcnow"]

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
Source = Literal["evaluate", "batch", "webhook", "command", "bridge"]

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
    detail: dict[str, Any] = Field(default_factory=dict)
