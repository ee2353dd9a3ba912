"""A refund or capture sent to Flex and not finished: recorded before the call, sent again as it was.

Before a refund or capture call, the order records what is sent (``OrderState.calls_sent``, through
the caller's ``mark_sent``), until the command is finished. A command found there was sent before
and never finished: its worker died before recording it, or it was answered ``FAILED`` (Flex's
answer lost) and is now redriven or sent again. Flex may have made that call, and the order may
show it already: Flex's ``order.refunded`` webhook or its figures count the refund, its
``order.completed`` webhook has moved a captured order to ``APPROVED``. Checked afresh, the command
would be refused ("nothing left to refund", "only a CAPTUREREQUIRED order can be captured"). So
the identical call is sent again instead, as the lost retry would have been: Flex answers a
capture again by its idempotency key, and a refund as a repeat of the last one (its message names
the commandId, ``consumers.refunds``) if it was made, and makes it if not. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from consumers.command_ids import request_of
from consumers.command_plan import Plan, dollars
from schemas.commands import OrderCommand
from schemas.order_state import SentCall

__all__ = ["MarkSent", "reused_sent", "sent_call"]

MarkSent = Callable[[SentCall], Awaitable[None]]  # records a call in the order before it is made


def sent_call(command: OrderCommand, plan: Plan) -> SentCall:
    """What the order records of the refund or capture ``plan`` is about to send."""
    assert plan.session is not None and plan.amount is not None  # the plan sets them for both  # noqa: S101
    return SentCall(
        amount=plan.amount,
        currency=plan.currency,
        order_session_key=plan.session,
        request=request_of(command),
    )


def reused_sent(command: OrderCommand, sent: SentCall) -> str | None:
    """Why ``command`` is not the command whose call ``sent`` records under its commandId (None: it
    is, so its call is sent again)."""
    if sent.request == request_of(command):
        return None
    return (
        f"commandId-reused: commandId {command.command_id} was used for another command on this "
        f"order (a {sent.request.get('type')} of {dollars(sent.amount)}, sent to Flex and not "
        "finished); give a new command a new commandId"
    )
