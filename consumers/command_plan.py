"""What an OrderCommand should do, given what flexbridge knows about the order. Pure, no I/O.

The checks mirror Flex's own rules (flex-api.md §2.7–2.9), so a command that cannot succeed is
answered REJECTED at once with a clear reason instead of being sent to Flex.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from schemas.commands import OrderCommand
from schemas.order_state import FlexOrderAmounts, OrderState
from schemas.status import Status

__all__ = [
    "NO_REFUND_AFTER_CHARGEBACK",
    "Plan",
    "dollars",
    "needs_amounts",
    "plan_command",
    "refused_as_it_stands",
    "session_of",
    "synced_with_flex",
    "with_flex_amounts",
]

Action = Literal["refund", "cancel", "external-cancel", "capture", "reject", "already-cancelled"]

# a refund needs a settled order the payer has not disputed: after a chargeback the payer gets the
# money back through the dispute, and a refund would pay them twice
_REFUNDABLE: frozenset[Status] = frozenset({"APPROVED", "REFUNDED"})
_COMPLETED: frozenset[Status] = frozenset({*_REFUNDABLE, "CHARGEBACK"})  # past cancelling
_CANCELLABLE: frozenset[Status] = frozenset(
    {"PENDING", "SUBMITTED", "CAPTUREREQUIRED", "CHALLENGE", "FAILED"}
)
_STATUSES: frozenset[str] = frozenset(
    {"SUBMITTED", "APPROVED", "DECLINED", "CHALLENGE", "CAPTUREREQUIRED", "EXPIRED", "CANCELLED", "REFUNDED"}
)


NO_REFUND_AFTER_CHARGEBACK = (
    "order is CHARGEBACK: the payer disputed the charge and is repaid through the dispute; "
    "a refund would pay them twice"
)


@dataclass(frozen=True)
class Plan:
    action: Action
    session: str | None = None
    amount: int | None = None
    currency: str | None = None
    reason: str | None = None
    on_amounts: bool = False  # a refusal for the order's amounts or currency (consumers/commands.py)


def dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def session_of(command: OrderCommand, state: OrderState | None) -> str | None:
    """The Flex order id: the command's own, else the one flexbridge learnt from /evaluate."""
    return command.order_session_key or (state.order_session_key if state is not None else None)


def needs_amounts(command: OrderCommand, state: OrderState | None) -> bool:
    """A refund or capture must know the order's amounts; when flexbridge has not seen them
    (e.g. an order known only by webhook), they are read from Flex first."""
    if command.type == "cancel" or session_of(command, state) is None:
        return False
    return state is None or state.authorised_amount is None


def with_flex_amounts(state: OrderState | None, order_id: str, flex: FlexOrderAmounts) -> OrderState:
    """``state`` completed with Flex's view of the order's amounts (never lowering the refunds)."""
    base = state or OrderState(order_id=order_id)
    changes: dict[str, object] = {}
    if flex.amount is not None:
        changes["authorised_amount"] = flex.amount
    if flex.captured_amount is not None:
        changes["captured_amount"] = flex.captured_amount
    if flex.refunded_amount is not None:
        changes["refunded_amount"] = max(flex.refunded_amount, base.refunded_amount)
    if flex.currency_code and base.currency is None:
        changes["currency"] = flex.currency_code.upper()
    name = (flex.status_name or "").upper()
    if base.status is None and name in _STATUSES:
        changes["status"] = name
    if base.order_session_key is None and flex.id:
        changes["order_session_key"] = flex.id
    return base.model_copy(update=changes)


def synced_with_flex(
    state: OrderState | None, order_id: str, flex: FlexOrderAmounts
) -> tuple[OrderState, dict[str, Any]]:
    """``state`` completed with the amounts Flex has (``GET /v1/orders/{id}``), and those changes
    (the status too, when the order had none)."""
    known_status = state is not None and state.status is not None
    synced = with_flex_amounts(state, order_id, flex)
    fields = {"authorised_amount", "captured_amount", "refunded_amount", "currency", "order_session_key"}
    return synced, synced.model_dump(include=fields if known_status else {*fields, "status"})


def _reject(reason: str, *, on_amounts: bool = False) -> Plan:
    return Plan("reject", reason=reason, on_amounts=on_amounts)


def _refund(command: OrderCommand, state: OrderState | None, session: str) -> Plan:
    if state is None or state.authorised_amount is None:
        return _reject("the order's amounts are not known, so the refund cannot be checked")
    if state.status == "CHARGEBACK":
        return _reject(NO_REFUND_AFTER_CHARGEBACK)
    if state.status not in _REFUNDABLE:
        return _reject(f"order is {state.status}; only an approved (settled) order can be refunded")
    for command_id, sent in state.calls_sent.items():
        # another command's (a command's own is sent again), not finished: a release before
        # calls_sent finishes a command and keeps its record of the call (a rolling deploy)
        if sent.request.get("type") == "refund" and command_id not in state.commands:
            return _reject(
                f"refund-in-doubt: a refund of this order was sent to Flex and its answer is not known "
                f"(commandId {command_id}, {dollars(sent.amount)}); send that command again or redrive "
                "it first: Flex takes only a repeat of its last refund for a repeat, so after another "
                "refund it could be made twice"
            )
    left = state.refundable_amount
    amount = command.amount if command.amount is not None else left
    if left == 0:
        return _reject(
            f"nothing left to refund: {dollars(state.refunded_amount)} already refunded", on_amounts=True
        )
    if amount > left:
        return _reject(
            f"refund of {dollars(amount)} is above the remaining refundable amount {dollars(left)} "
            f"(settled {dollars(state.settled_amount)}, refunded so far {dollars(state.refunded_amount)})",
            on_amounts=True,
        )
    currency = command.currency.upper() if command.currency is not None else None
    if currency is not None and state.currency is None:
        return _reject(
            f"the order's currency is not known, so the refund currency {currency} cannot be checked"
        )
    if currency is not None and currency != state.currency:
        return _reject(
            f"refund currency {currency} differs from the order's {state.currency}", on_amounts=True
        )
    return Plan("refund", session, amount, state.currency)


def _cancel(state: OrderState | None, session: str | None) -> Plan:
    status = state.status if state is not None else None
    if status == "CANCELLED":
        return Plan("already-cancelled", session)
    if status == "CHARGEBACK":
        return _reject("order is CHARGEBACK (completed, disputed): it can no longer be cancelled")
    if status in _COMPLETED:
        return _reject(f"order is {status} (completed): it can no longer be cancelled; ask for a refund")
    if status is not None and status not in _CANCELLABLE and session is not None:
        return _reject(f"order is {status}: there is nothing to cancel")
    if session is None:
        return Plan("external-cancel")  # only the merchant's order id is known
    return Plan("cancel", session)


def _capture(command: OrderCommand, state: OrderState | None, session: str) -> Plan:
    if state is None or state.authorised_amount is None:
        return _reject("the order's authorised amount is not known, so the capture cannot be checked")
    if state.status != "CAPTUREREQUIRED":
        return _reject(f"order is {state.status}; only a CAPTUREREQUIRED order can be captured")
    amount = command.amount if command.amount is not None else state.authorised_amount
    if amount != state.authorised_amount:
        return _reject(
            f"capture amount {dollars(amount)} must equal the authorised amount "
            f"{dollars(state.authorised_amount)} (Flex has no partial capture)",
            on_amounts=True,
        )
    currency = (command.currency or state.currency or "").upper()
    if not currency:
        return _reject("currency unknown: give the command a currency")
    if state.currency and currency != state.currency:
        return _reject(
            f"capture currency {currency} differs from the order's {state.currency}", on_amounts=True
        )
    return Plan("capture", session, amount, currency)


def plan_command(command: OrderCommand, state: OrderState | None) -> Plan:
    session = session_of(command, state)
    if command.type == "cancel":
        return _cancel(state, session)
    if session is None and state is None:
        whose = f"merchant mid {command.mid} has no" if command.mid is not None else "flexbridge knows no"
        return _reject(
            f"unknown-order: {whose} order {command.order_id} (none seen); "
            "if Flex has it, give its orderSessionKey"
        )
    if session is None:
        return _reject(f"no orderSessionKey known for order {command.order_id}: give one in the command")
    if command.type == "refund":
        return _refund(command, state, session)
    return _capture(command, state, session)


def refused_as_it_stands(command: OrderCommand, state: OrderState | None) -> bool:
    """Whether the order state as it stands would refuse ``command``, one neither answered before nor
    sent to Flex: read before its order's latest status is folded, it waits for it first
    (streams/runtime/commands.py)."""
    if state is not None and (command.command_id in state.commands or command.command_id in state.calls_sent):
        return False
    if needs_amounts(command, state):
        return False  # Flex's order is read first (consumers/commands.py): it is current
    return plan_command(command, state).action == "reject"
