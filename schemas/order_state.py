"""OrderState: what flexbridge knows about one merchant order (the value of the ``orders`` table).

Served by ``GET /orders/{orderId}`` and ``flexbridge order ORDER_ID``. Amounts are in cents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from schemas.flex import FlexModel
from schemas.status import Source, Status, utcnow

__all__ = [
    "CommandRecord",
    "FlexOrderAmounts",
    "HistoryEntry",
    "OrderState",
    "SentCall",
    "Verdict",
]

# applied: the status moved the order; confirmed: same status again (e.g. a webhook confirming
# an /evaluate answer); answer: a command's REJECTED/FAILED reply, which leaves the order as it was;
# illegal: refused by the state machine, flagged; late: an answer its publisher marked as older than
# the order's latest status (``detail.late``), which the machine could not apply either: recorded,
# neither applied nor flagged; duplicate: already seen, not recorded again.
Verdict = Literal["applied", "confirmed", "answer", "illegal", "late", "duplicate"]

# A history entry as stored may come from another release: during a rolling deploy (or after a
# rollback) this one reads orders a newer one wrote. Its ``verdict`` and ``source`` only describe the
# entry (shown, never acted on), so one this release does not know is read and kept as given, not
# taken for a broken order. This release writes only the known ones: the order machine builds every
# entry from a ``Verdict`` and an OrderStatus's ``Source`` (consumers/order_machine.py). Its
# ``status`` stays strict, as does the order's: the machine acts on statuses.
_OTHER_RELEASE = "; a value this release does not know (written by another release) is kept as given"

# extra="allow": fields another (newer) release added to a stored entry are kept as read and
# written back with it, so that a rollback during a rolling deploy does not drop them.
_wire = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="allow")


class HistoryEntry(BaseModel):
    model_config = _wire

    at: datetime = Field(default_factory=utcnow)
    status: Status
    source: Source | str = Field(description="who caused the status" + _OTHER_RELEASE)
    event_id: str
    verdict: Verdict | str = Field(description="what the order machine made of it" + _OTHER_RELEASE)
    note: str | None = None


class CommandRecord(BaseModel):
    """A finished command: its answer (the OrderStatus JSON), republished as-is on a replay, and
    what it asked for (``request``: type, amount, currency, orderSessionKey, message; absent in
    records written before it was kept), so that another command under its commandId is told apart."""

    model_config = _wire

    type: str
    status: Status
    amount: int | None = None
    answer: dict[str, Any]
    request: dict[str, Any] | None = None


class SentCall(BaseModel):
    """A refund or capture call sent to Flex for a command not finished yet: written to the order
    before the call. A re-run of the command (its worker died before recording it, or its ``FAILED``
    answer is redriven or sent again) finds it and repeats the identical call, which Flex answers as
    a repeat if it was made, instead of checking the command afresh against an order that its own
    call may have moved on already (consumers/sent_calls.py)."""

    model_config = _wire

    amount: int
    currency: str | None = None  # a capture's
    order_session_key: str
    request: dict[str, Any]  # what the command asked for (consumers.command_ids.request_of)


class OrderState(BaseModel):
    model_config = _wire

    order_id: str
    # the merchant's mid (DESIGN.md §2.9), from the first status that names it (``detail.mid``);
    # the order's commands call Flex as that merchant
    mid: str | None = None
    order_session_key: str | None = None
    status: Status | None = None
    currency: str | None = None
    authorised_amount: int | None = None
    captured_amount: int = 0
    refunded_amount: int = 0
    flagged: bool = False
    flags: tuple[str, ...] = ()
    commands: dict[str, CommandRecord] = Field(default_factory=dict)
    calls_sent: dict[str, SentCall] = Field(default_factory=dict)  # by commandId, until finished
    history: tuple[HistoryEntry, ...] = ()
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def settled_amount(self) -> int:
        """What can be refunded in total: the captured amount, or the whole of an approved order."""
        if self.captured_amount:
            return self.captured_amount
        if self.status in ("APPROVED", "REFUNDED", "CHARGEBACK"):
            return self.authorised_amount or 0
        return 0

    @property
    def refundable_amount(self) -> int:
        """What a refund may still take: nothing once the payer disputed the charge (CHARGEBACK)."""
        if self.status == "CHARGEBACK":
            return 0
        return max(self.settled_amount - self.refunded_amount, 0)

    def view(self) -> dict[str, Any]:
        """The JSON served by ``GET /orders/{orderId}`` (adds ``refundableAmount``)."""
        body = self.model_dump(mode="json", by_alias=True)
        body["refundableAmount"] = self.refundable_amount if self.authorised_amount is not None else None
        return body


class FlexOrderAmounts(FlexModel):
    """The fields of ``GET /v1/orders/{id}`` the command checks need (amounts in cents): the
    amounts, and whose order it is (``externalOrderId``, the merchant's order id, and ``mid``)."""

    id: str | None = None
    external_order_id: str | None = None
    mid: str | None = None
    status_name: str | None = None
    amount: int | None = None
    captured_amount: int | None = None
    refunded_amount: int | None = None
    currency_code: str | None = None
