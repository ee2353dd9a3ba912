"""What makes one refund command one refund at Flex. Pure, no I/O.

``/refund`` takes no idempotency key, and Flex dedupes repeat refund calls itself (flex-api.md
§2.8): a second refund of the same amount and message would be taken for a repeat of the first.
So the ``refundMessage`` carries the commandId (:func:`refund_message`): a retry of one command is
the same call (deduped by Flex), a new command is a new refund. And an answer whose
``transactionId`` an earlier refund command of the order already got (:func:`repeat_of`) is a
refund Flex did not make: flexbridge never reports it REFUNDED.
"""

from __future__ import annotations

from schemas.commands import OrderCommand
from schemas.order_state import OrderState

__all__ = ["refund_message", "repeat_of"]


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
