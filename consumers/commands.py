"""The command flow: refund / cancel / capture an order at Flex, answered by one OrderStatus.

A plain async function with the Flex client injected; it never raises for data or Flex answers.
It returns the answer to publish and the changes the command made to the order, which the caller
applies to the order state itself, at once (see ``consumers.order_machine.record_command``), so a
second refund right after the first checks the new "refunded so far".

Replays: ``/cancel`` and ``/capture`` carry ``idempotencyKey`` = ``command_key(commandId)``; a
finished command is also recorded in the order state, and a replay republishes its recorded answer
without calling Flex (that is what protects ``/refund``, which takes no key). A refund's
``refundMessage`` names its commandId, so Flex's own dedupe of repeat refunds merges only calls of
one command; an answer Flex gave an earlier command of the order is REJECTED (``consumers.refunds``).
A refund or capture sent and not finished is sent again as it was, unchecked
(``consumers.sent_calls``).
"""

from __future__ import annotations

from typing import Any, Protocol

from consumers.command_answers import CommandOutcome, answer, failed, finished
from consumers.command_cards import card_data_reason
from consumers.command_ids import reused_for_another
from consumers.command_plan import Plan, needs_amounts, plan_command, session_of, synced_with_flex
from consumers.flex.errors import FlexError
from consumers.keys import command_key
from consumers.refunds import RefundClient, refund, refund_again
from consumers.sent_calls import MarkSent, reused_sent, sent_call
from consumers.session_check import key_mismatch, not_the_order, unverified_key
from core.merchants import Merchants
from schemas.commands import OrderCommand
from schemas.flex import CancelResponse, CaptureResponse
from schemas.order_state import OrderState, SentCall
from schemas.status import OrderStatus

__all__ = ["CommandClient", "CommandOutcome", "reject_command", "run_command"]


class CommandClient(RefundClient, Protocol):
    async def cancel(self, order_session_key: str, idempotency_key: str) -> CancelResponse: ...
    async def external_cancel(self, order_id: str, idempotency_key: str) -> CancelResponse: ...
    async def capture(
        self, order_session_key: str, amount_cents: int, currency: str, idempotency_key: str
    ) -> CaptureResponse: ...


async def _capture(
    command: OrderCommand, sent: SentCall, flex: CommandClient, **extra: Any
) -> CommandOutcome:
    """The capture ``sent`` describes, under the command's idempotency key (Flex answers a repeat
    of it again, without capturing twice)."""
    assert sent.currency is not None  # the plan sets it for a capture  # noqa: S101
    key = command_key(command.command_id)
    try:
        await flex.capture(sent.order_session_key, sent.amount, sent.currency, key)
    except FlexError as exc:
        return failed(command, sent.order_session_key, exc, {"idempotencyKey": key, **extra})
    detail = {
        "idempotencyKey": key,
        "amount": sent.amount,
        "currency": sent.currency,
        "captured": True,
        **extra,
    }
    changes = {"status": "APPROVED", "captured_amount": sent.amount, "currency": sent.currency}
    return finished(
        command, answer(command, "APPROVED", session=sent.order_session_key, detail=detail), changes
    )


async def _cancel(command: OrderCommand, plan: Plan, key: str, flex: CommandClient) -> CommandOutcome:
    detail: dict[str, Any] = {"idempotencyKey": key}
    if plan.session is not None:
        await flex.cancel(plan.session, key)
    else:
        await flex.external_cancel(command.order_id, key)
        detail["external"] = True
    cancelled = answer(command, "CANCELLED", session=plan.session, detail=detail)
    return finished(command, cancelled, {"status": "CANCELLED"})


async def _call(
    command: OrderCommand, plan: Plan, state: OrderState, flex: CommandClient, mark_sent: MarkSent | None
) -> CommandOutcome:
    if plan.action in ("refund", "capture"):  # recorded as sent first (consumers.sent_calls)
        sent = sent_call(command, plan)
        if mark_sent is not None:
            await mark_sent(sent)
        if plan.action == "refund":
            return await refund(command, sent, state, flex)
        return await _capture(command, sent, flex)
    key = command_key(command.command_id)
    try:
        return await _cancel(command, plan, key, flex)
    except FlexError as exc:
        return failed(command, plan.session, exc, {"idempotencyKey": key})


async def _again(
    command: OrderCommand, sent: SentCall, state: OrderState, flex: CommandClient
) -> CommandOutcome:
    """A command whose call the order records as ``sent`` and not finished: the same call again
    (``consumers.sent_calls``), unless another command has taken its commandId."""
    reused = reused_sent(command, sent)
    if reused is not None:
        return CommandOutcome(answer(command, "REJECTED", session=sent.order_session_key, reason=reused))
    if command.type == "refund":
        return await refund_again(command, sent, state, flex)
    return await _capture(command, sent, flex, resent=True)


def _card_data_refused(command: OrderCommand) -> CommandOutcome | None:
    """The REJECTED answer of a command holding a card number (``consumers.command_cards``), else
    None. Not recorded: a record keeps the command's message and key, and a refusal that made no
    effect need not be remembered (the same command sent again is refused again)."""
    reason = card_data_reason(command)
    if reason is None:
        return None
    return CommandOutcome(answer(command, "REJECTED", session=None, reason=reason))


def reject_command(
    command: OrderCommand, state: OrderState | None, merchants: Merchants, reason: str | None = None
) -> CommandOutcome:
    """The REJECTED answer of a command whose order has no merchant of ours (several are served),
    or of one rejected for ``reason`` (``consumers.order_keys.resolve_command``); a command holding
    a card number is refused for that first, as by :func:`run_command`."""
    refused = _card_data_refused(command)
    if refused is not None:
        return refused
    if reason is None:
        mid = state.mid if state is not None else None
        if mid is None:  # as consumers.command_plan words an unknown order: one prefix to match
            reason = (
                f"unknown-order: flexbridge knows no order {command.order_id}, so its merchant is not known"
            )
        else:
            reason = f"the order's merchant (mid {mid}) is not configured"
        reason += f" ({len(merchants)} merchants are served)"
    session = state.order_session_key if state is not None else command.order_session_key
    return finished(command, answer(command, "REJECTED", session=session, reason=reason))


def _replay(command: OrderCommand, state: OrderState) -> CommandOutcome:
    """The answer to a command whose commandId the order recorded finished: its recorded answer
    again, or REJECTED when another command took that id."""
    recorded = state.commands[command.command_id]
    reused = reused_for_another(command, recorded)
    if reused is not None:  # answered, not recorded: the id stays the first command's
        return CommandOutcome(answer(command, "REJECTED", session=state.order_session_key, reason=reused))
    return CommandOutcome(OrderStatus.model_validate(recorded.answer), recorded, replayed=True)


async def _with_flex_order(
    command: OrderCommand, state: OrderState | None, session: str, flex: CommandClient, *, verify: bool
) -> tuple[OrderState, dict[str, Any]] | CommandOutcome:
    """``state`` synced with Flex's order (``GET /v1/orders/{id}``) and the changes; or the command's
    answer: FAILED when the order cannot be read, REJECTED when ``verify`` finds it another order."""
    try:
        flex_order = await flex.order_amounts(session)
    except FlexError as exc:
        return failed(command, session, exc, {"lookup": "GET /v1/orders/{id}"})
    problem = not_the_order(command, flex_order) if verify else None
    if problem is not None:
        return finished(command, answer(command, "REJECTED", session=None, reason=problem))
    return synced_with_flex(state, command.order_id, flex_order)


async def run_command(
    command: OrderCommand, state: OrderState | None, flex: CommandClient, mark_sent: MarkSent | None = None
) -> CommandOutcome:
    """Check ``command`` against ``state`` (reading the amounts from Flex if unknown), then act.
    ``mark_sent`` records a refund call in the order before it is made (``consumers.refunds``)."""
    refused = _card_data_refused(command)
    if refused is not None:
        return refused
    if state is not None and command.command_id in state.commands:
        return _replay(command, state)
    sent = state.calls_sent.get(command.command_id) if state is not None else None
    if state is not None and sent is not None:
        return await _again(command, sent, state, flex)
    mismatch = key_mismatch(command, state)
    if mismatch is not None:
        known = state.order_session_key if state is not None else None
        return finished(command, answer(command, "REJECTED", session=known, reason=mismatch))
    changes: dict[str, Any] = {}
    session = session_of(command, state)
    unverified = unverified_key(command, state)
    read = needs_amounts(command, state) or unverified  # Flex's order, before planning
    if session is not None and read:
        synced = await _with_flex_order(command, state, session, flex, verify=unverified)
        if isinstance(synced, CommandOutcome):
            return synced
        state, changes = synced
    plan = plan_command(command, state)
    if plan.on_amounts and session is not None and not read:
        # refused for amounts the order's statuses told (the event's, not Flex's): only Flex's own
        # figures refuse a refund or capture
        synced = await _with_flex_order(command, state, session, flex, verify=False)
        if isinstance(synced, CommandOutcome):
            return synced
        state, changes = synced
        plan = plan_command(command, state)
    if plan.action == "reject":
        return finished(command, answer(command, "REJECTED", session=session, reason=plan.reason), changes)
    if plan.action == "already-cancelled":
        cancelled = answer(command, "CANCELLED", session=session, detail={"alreadyCancelled": True})
        return finished(command, cancelled, changes)
    outcome = await _call(command, plan, state or OrderState(order_id=command.order_id), flex, mark_sent)
    return CommandOutcome(outcome.answer, outcome.record, {**changes, **outcome.changes}, outcome.dead_letter)
