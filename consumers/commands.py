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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from consumers.command_cards import card_data_reason
from consumers.command_ids import request_of, reused_for_another
from consumers.command_plan import Plan, needs_amounts, plan_command, session_of, with_flex_amounts
from consumers.flex.errors import FlexConflict, FlexError, FlexRejected
from consumers.keys import command_key
from consumers.refunds import refund_message, repeat_of
from consumers.session_check import key_mismatch, not_the_order, unverified_key
from core.merchants import Merchants
from schemas.commands import OrderCommand
from schemas.dlq import DlqReason
from schemas.flex import CancelResponse, CaptureResponse, RefundResponse
from schemas.order_state import CommandRecord, FlexOrderAmounts, OrderState
from schemas.status import OrderStatus, Status, status_of

__all__ = ["CommandClient", "CommandOutcome", "reject_command", "run_command"]


class CommandClient(Protocol):
    async def refund(
        self, order_session_key: str, amount_cents: int, message: str | None = None
    ) -> RefundResponse: ...
    async def cancel(self, order_session_key: str, idempotency_key: str) -> CancelResponse: ...
    async def external_cancel(self, order_id: str, idempotency_key: str) -> CancelResponse: ...
    async def capture(
        self, order_session_key: str, amount_cents: int, currency: str, idempotency_key: str
    ) -> CaptureResponse: ...
    async def order_amounts(self, order_session_key: str) -> FlexOrderAmounts: ...


@dataclass(frozen=True)
class CommandOutcome:
    """``answer`` goes to ``orders.status``. ``record`` is set when the command is finished for good
    (replays then repeat the answer); ``changes`` are OrderState fields the command set."""

    answer: OrderStatus
    record: CommandRecord | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    dead_letter: tuple[DlqReason, str] | None = None
    replayed: bool = False  # finished before: the recorded answer, no Flex call


def _answer(
    command: OrderCommand,
    status: Status,
    *,
    session: str | None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> OrderStatus:
    detail = {"commandId": command.command_id, "command": command.type, **(detail or {})}
    if command.mid is not None:
        detail["mid"] = command.mid  # the order's merchant (DESIGN.md §2.9)
    event_id = command.command_id
    return status_of(
        command.order_id, status, "command", event_id, session_key=session, reason=reason, detail=detail
    )


def _finished(
    command: OrderCommand, answer: OrderStatus, changes: dict[str, Any] | None = None
) -> CommandOutcome:
    record = CommandRecord(
        type=command.type,
        status=answer.status,
        amount=command.amount,
        answer=answer.model_dump(mode="json", by_alias=True),
        request=request_of(command),
    )
    return CommandOutcome(answer, record, changes or {})


def _failed(
    command: OrderCommand, session: str | None, exc: FlexError, detail: dict[str, Any]
) -> CommandOutcome:
    """Flex refused the request for good (REJECTED, finished) or could not be reached (FAILED:
    not finished, so a redelivery or a redrive from the DLQ tries again)."""
    if isinstance(exc, FlexRejected):
        detail = {**detail, "httpStatus": exc.status_code, "errors": exc.errors}
        why = _conflict(command) if isinstance(exc, FlexConflict) else str(exc)
        answer = _answer(command, "REJECTED", session=session, reason=why, detail=detail)
        return _finished(command, answer)
    answer = _answer(command, "FAILED", session=session, reason=str(exc), detail=detail)
    reason: DlqReason = "flex-bad-response"
    if exc.reason == "retries-exhausted":
        reason = "retries-exhausted"
    elif exc.reason == "flex-auth":
        reason = "flex-auth"
    return CommandOutcome(answer, dead_letter=(reason, str(exc)))


def _conflict(command: OrderCommand) -> str:
    """Why Flex answered 409: the commandId's key went with another request before, most often the
    commandId of a command for another order (commandIds must be unique, consumers/keys.py)."""
    return (
        f"idempotency key reused with a different request: commandId {command.command_id} was sent "
        "before with another request (another order, or other fields); each command needs a "
        "commandId of its own"
    )


async def _refund(
    command: OrderCommand, plan: Plan, state: OrderState, flex: CommandClient
) -> CommandOutcome:
    assert plan.session is not None and plan.amount is not None  # the plan sets them for a refund  # noqa: S101
    answer = await flex.refund(plan.session, plan.amount, refund_message(command))
    earlier = repeat_of(state, answer.transaction_id)
    if earlier is not None:  # Flex took it for a repeat of another command's refund: nothing refunded
        reason = (
            f"Flex answered this refund as a repeat of command {earlier} (transactionId "
            f"{answer.transaction_id}): no new refund was made"
        )
        detail = {"amount": plan.amount, "repeatOf": earlier, "flexTransactionId": answer.transaction_id}
        return _finished(
            command, _answer(command, "REJECTED", session=plan.session, reason=reason, detail=detail)
        )
    refunded = state.refunded_amount + plan.amount
    left = max(state.settled_amount - refunded, 0)
    detail = {
        "amount": plan.amount,
        "refundedAmount": refunded,
        "refundableAmount": left,
        "fullyRefunded": left == 0,
        "transactionId": answer.transaction_id,
    }
    changes: dict[str, Any] = {"refunded_amount": refunded}
    if left == 0:
        changes["status"] = "REFUNDED"
    return _finished(command, _answer(command, "REFUNDED", session=plan.session, detail=detail), changes)


async def _capture(command: OrderCommand, plan: Plan, key: str, flex: CommandClient) -> CommandOutcome:
    assert plan.session is not None and plan.amount is not None and plan.currency is not None  # the plan  # noqa: S101
    await flex.capture(plan.session, plan.amount, plan.currency, key)
    detail = {"idempotencyKey": key, "amount": plan.amount, "currency": plan.currency, "captured": True}
    changes = {"status": "APPROVED", "captured_amount": plan.amount, "currency": plan.currency}
    return _finished(command, _answer(command, "APPROVED", session=plan.session, detail=detail), changes)


async def _cancel(command: OrderCommand, plan: Plan, key: str, flex: CommandClient) -> CommandOutcome:
    detail: dict[str, Any] = {"idempotencyKey": key}
    if plan.session is not None:
        await flex.cancel(plan.session, key)
    else:
        await flex.external_cancel(command.order_id, key)
        detail["external"] = True
    answer = _answer(command, "CANCELLED", session=plan.session, detail=detail)
    return _finished(command, answer, {"status": "CANCELLED"})


async def _call(command: OrderCommand, plan: Plan, state: OrderState, flex: CommandClient) -> CommandOutcome:
    key = command_key(command.command_id)
    try:
        if plan.action == "refund":
            return await _refund(command, plan, state, flex)
        if plan.action == "capture":
            return await _capture(command, plan, key, flex)
        return await _cancel(command, plan, key, flex)
    except FlexError as exc:
        return _failed(command, plan.session, exc, {} if plan.action == "refund" else {"idempotencyKey": key})


def _synced(
    command: OrderCommand, state: OrderState | None, flex_order: FlexOrderAmounts
) -> tuple[OrderState, dict[str, Any]]:
    """``state`` completed with the amounts Flex has (``GET /v1/orders/{id}``), and those changes."""
    known_status = state is not None and state.status is not None
    synced = with_flex_amounts(state, command.order_id, flex_order)
    fields = {"authorised_amount", "captured_amount", "refunded_amount", "currency", "order_session_key"}
    return synced, synced.model_dump(include=fields if known_status else {*fields, "status"})


def _card_data_refused(command: OrderCommand) -> CommandOutcome | None:
    """The REJECTED answer of a command holding a card number (``consumers.command_cards``), else
    None. Not recorded: a record keeps the command's message and key, and a refusal that made no
    effect need not be remembered (the same command sent again is refused again)."""
    reason = card_data_reason(command)
    if reason is None:
        return None
    return CommandOutcome(_answer(command, "REJECTED", session=None, reason=reason))


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
        if mid is None:
            reason = f"order {command.order_id} is unknown to flexbridge: its merchant is not known"
        else:
            reason = f"the order's merchant (mid {mid}) is not configured"
        reason += f" ({len(merchants)} merchants are served)"
    session = state.order_session_key if state is not None else command.order_session_key
    return _finished(command, _answer(command, "REJECTED", session=session, reason=reason))


async def run_command(command: OrderCommand, state: OrderState | None, flex: CommandClient) -> CommandOutcome:
    """Check ``command`` against ``state`` (reading the amounts from Flex if unknown), then act."""
    refused = _card_data_refused(command)
    if refused is not None:
        return refused
    if state is not None and command.command_id in state.commands:
        recorded = state.commands[command.command_id]
        reused = reused_for_another(command, recorded)
        if reused is not None:  # answered, not recorded: the id stays the first command's
            return CommandOutcome(
                _answer(command, "REJECTED", session=state.order_session_key, reason=reused)
            )
        return CommandOutcome(OrderStatus.model_validate(recorded.answer), recorded, replayed=True)
    mismatch = key_mismatch(command, state)
    if mismatch is not None:
        known = state.order_session_key if state is not None else None
        return _finished(command, _answer(command, "REJECTED", session=known, reason=mismatch))
    changes: dict[str, Any] = {}
    session = session_of(command, state)
    unverified = unverified_key(command, state)
    if (needs_amounts(command, state) or unverified) and session is not None:
        try:
            flex_order = await flex.order_amounts(session)
        except FlexError as exc:
            return _failed(command, session, exc, {"lookup": "GET /v1/orders/{id}"})
        problem = not_the_order(command, flex_order) if unverified else None
        if problem is not None:
            return _finished(command, _answer(command, "REJECTED", session=None, reason=problem))
        state, changes = _synced(command, state, flex_order)
    plan = plan_command(command, state)
    if plan.action == "reject":
        answer = _answer(command, "REJECTED", session=session, reason=plan.reason)
        return _finished(command, answer, changes)
    if plan.action == "already-cancelled":
        answer = _answer(command, "CANCELLED", session=session, detail={"alreadyCancelled": True})
        return _finished(command, answer, changes)
    outcome = await _call(command, plan, state or OrderState(order_id=command.order_id), flex)
    return CommandOutcome(outcome.answer, outcome.record, {**changes, **outcome.changes}, outcome.dead_letter)
