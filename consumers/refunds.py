"""What makes one refund command one refund at Flex.

``/refund`` takes no idempotency key, and Flex dedupes repeat refund calls itself (flex-api.md
§2.8): a second refund of the same amount and message would be taken for a repeat of the first.
So the ``refundMessage`` carries the commandId (:func:`refund_message`): a retry of one command is
the same call (deduped by Flex), a new command is a new refund. An answer whose ``transactionId``
an earlier refund command of the order already got (:func:`repeat_of`) is a refund Flex did not
make: flexbridge never reports it REFUNDED. A refund sent and not finished is sent again as it was
(:func:`refund_again`, ``consumers.sent_calls``); only a chargeback since stops it (REJECTED, as
a new refund would be).
"""

from __future__ import annotations

from typing import Any, Protocol

from consumers.command_answers import CommandOutcome, answer, failed, finished
from consumers.command_plan import NO_REFUND_AFTER_CHARGEBACK, synced_with_flex
from consumers.flex.errors import FlexError
from schemas.commands import OrderCommand
from schemas.flex import RefundResponse
from schemas.order_state import FlexOrderAmounts, OrderState, SentCall

__all__ = ["RefundClient", "refund", "refund_again", "refund_message", "repeat_of"]


class RefundClient(Protocol):
    async def refund(
        self, order_session_key: str, amount_cents: int, message: str | None = None
    ) -> RefundResponse: ...
    async def order_amounts(self, order_session_key: str) -> FlexOrderAmounts: ...


def refund_message(command: OrderCommand) -> str:
    """The ``refundMessage`` sent to Flex: the command's ``message`` and its commandId."""
    tag = f"commandId {command.command_id}"
    return f"{command.message} [{tag}]" if command.message else tag


def repeat_of(state: OrderState, transaction_id: str | None) -> str | None:
    """The commandId of the earlier refund of the order that Flex answered with ``transaction_id``
    (None: a new transaction, or Flex gave no id)."""
    if not transaction_id:
        return None
    for command_id, record in state.commands.items():
        detail = record.answer.get("detail")
        if record.type != "refund" or record.status != "REFUNDED" or not isinstance(detail, dict):
            continue
        if detail.get("transactionId") == transaction_id:
            return command_id
    return None


async def refund(
    command: OrderCommand, sent: SentCall, state: OrderState, flex: RefundClient
) -> CommandOutcome:
    """The refund the plan checked, ``sent`` as the order records it: made."""
    session, amount = sent.order_session_key, sent.amount
    try:
        made = await flex.refund(session, amount, refund_message(command))
    except FlexError as exc:
        return failed(command, session, exc, {})
    return _answered(command, state, session, amount, made, state.refunded_amount + amount)


async def refund_again(
    command: OrderCommand, sent: SentCall, state: OrderState, flex: RefundClient
) -> CommandOutcome:
    """``command``'s refund, ``sent`` before and not finished: the identical call again. Whichever
    call made the refund, Flex's amounts count it once: they are read afterwards; when they cannot
    be, it is counted as a first call counts it (or not at all, when the order's amounts are not
    known either)."""
    session, amount = sent.order_session_key, sent.amount
    if state.status == "CHARGEBACK":  # never sent again: were it not made, the payer is repaid twice
        refused = answer(command, "REJECTED", session=session, reason=NO_REFUND_AFTER_CHARGEBACK)
        return finished(command, refused)
    try:
        made = await flex.refund(session, amount, refund_message(command))
    except FlexError as exc:
        return failed(command, session, exc, {"amount": amount, "resent": True})
    try:
        flex_order: FlexOrderAmounts | None = await flex.order_amounts(session)
    except FlexError:
        flex_order = None  # the refund is made all the same
    synced: dict[str, Any] = {}
    if flex_order is not None and flex_order.refunded_amount is not None:
        state, synced = synced_with_flex(state, command.order_id, flex_order)
        counted: int | None = state.refunded_amount
    else:
        counted = state.refunded_amount + amount if state.authorised_amount is not None else None
    outcome = _answered(command, state, session, amount, made, counted, resent=True)
    return CommandOutcome(outcome.answer, outcome.record, {**synced, **outcome.changes})


def _answered(
    command: OrderCommand,
    state: OrderState,
    session: str,
    amount: int,
    made: RefundResponse,
    refunded: int | None,
    **extra: Any,
) -> CommandOutcome:
    """REFUNDED, with ``refunded`` the order's refunds so far (None: not known, so neither is what is
    left); REJECTED when Flex answered with the transactionId of another command's refund (nothing
    was refunded)."""
    earlier = repeat_of(state, made.transaction_id)
    if earlier is not None:
        reason = (
            f"Flex answered this refund as a repeat of command {earlier} (transactionId "
            f"{made.transaction_id}): no new refund was made"
        )
        repeat = {"amount": amount, "repeatOf": earlier, "flexTransactionId": made.transaction_id, **extra}
        return finished(command, answer(command, "REJECTED", session=session, reason=reason, detail=repeat))
    detail: dict[str, Any] = {"amount": amount}
    changes: dict[str, Any] = {}
    if refunded is not None:
        left = max(state.settled_amount - refunded, 0)
        detail.update(refundedAmount=refunded, refundableAmount=left, fullyRefunded=left == 0)
        changes["refunded_amount"] = refunded
        if left == 0:
            changes["status"] = "REFUNDED"
    detail.update(transactionId=made.transaction_id, **extra)
    return finished(command, answer(command, "REFUNDED", session=session, detail=detail), changes)
