"""OrderCommand: refund / cancel / capture requests on ``orders.commands`` (DESIGN.md §2.4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["FORWARDED", "OrderCommand"]

# The header of a command produced again to its order's partition (streams/runtime/commands.py
# CommandAgent.forward): the partition/offset it was first read at.
FORWARDED = "flexbridge-forwarded-from"


class OrderCommand(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore")

    command_id: str = Field(min_length=1, max_length=200)
    type: Literal["refund", "cancel", "capture"]
    order_id: str = Field(min_length=1, max_length=200)
    mid: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the order's merchant (its MID); needed only when several merchants have this orderId",
    )
    order_session_key: str | None = Field(
        default=None,
        description="the Flex order id (a GUID); one that is a card number is REJECTED (pan-detected)",
    )
    # strict: lax pydantic would take true as 1 cent and "12" as 12
    amount: int | None = Field(
        default=None, gt=0, strict=True, description='cents, a JSON integer (true, 12.0 or "12" are refused)'
    )
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    message: str | None = Field(
        default=None,
        max_length=500,
        description="free text, sent to Flex with a refund; with a card number: REJECTED (pan-detected)",
    )
