"""A command's answer (one OrderStatus) and what it leaves behind: its record, its changes to the
order, a dead letter. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consumers.command_ids import request_of
from consumers.flex.errors import FlexConflict, FlexError, FlexRejected
from schemas.commands import OrderCommand
from schemas.dlq import DlqReason
from schemas.order_state import CommandRecord
from schemas.status import OrderStatus, Status, status_of

__all__ = ["CommandOutcome", "answer", "failed", "finished"]


@dataclass(frozen=True)
class CommandOutcome:
    """``answer`` goes to ``orders.status``. ``record`` is set when the command is finished for good
    (replays then repeat the answer); ``changes`` are OrderState fields the command set."""

    answer: OrderStatus
    record: CommandRecord | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    dead_letter: tuple[DlqReason, str] | None = None
    replayed: bool = False  # finished before: the recorded answer, no Flex call


def answer(
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


def finished(
    command: OrderCommand, answered: OrderStatus, changes: dict[str, Any] | None = None
) -> CommandOutcome:
    record = CommandRecord(
        type=command.type,
        status=answered.status,
        amount=command.amount,
        answer=answered.model_dump(mode="json", by_alias=True),
        request=request_of(command),
    )
    return CommandOutcome(answered, record, changes or {})


def failed(
    command: OrderCommand, session: str | None, exc: FlexError, detail: dict[str, Any]
) -> CommandOutcome:
    """Flex refused the request for good (REJECTED, finished) or could not be reached (FAILED:
    not finished, so a redelivery or a redrive from the DLQ tries again)."""
    if isinstance(exc, FlexRejected):
        detail = {**detail, "httpStatus": exc.status_code, "errors": exc.errors}
        why = _conflict(command) if isinstance(exc, FlexConflict) else str(exc)
        return finished(command, answer(command, "REJECTED", session=session, reason=why, detail=detail))
    given_up = answer(command, "FAILED", session=session, reason=str(exc), detail=detail)
    reason: DlqReason = "flex-bad-response"
    if exc.reason == "retries-exhausted":
        reason = "retries-exhausted"
    elif exc.reason == "flex-auth":
        reason = "flex-auth"
    return CommandOutcome(given_up, dead_letter=(reason, str(exc)))


def _conflict(command: OrderCommand) -> str:
    """Why Flex answered 409: the commandId's key went with another request before, most often the
    commandId of a command for another order (commandIds must be unique, consumers/keys.py)."""
    return (
        f"idempotency key reused with a different request: commandId {command.command_id} was sent "
        "before with another request (another order, or other fields); each command needs a "
        "commandId of its own"
    )
