"""A commandId names one command: an exact repeat gets the first answer again, a different
command under a used id is refused. Pure, no I/O.

The finished command's record (``CommandRecord.request``) keeps what the command asked for; a
record written before it was kept compares by type and amount only.
"""

from __future__ import annotations

from typing import Any

from consumers.command_plan import dollars
from schemas.commands import OrderCommand
from schemas.order_state import CommandRecord

__all__ = ["request_of", "reused_for_another"]


def request_of(command: OrderCommand) -> dict[str, Any]:
    """What the command asks for, as its record keeps it (its merchant and order are the record's)."""
    return {
        "type": command.type,
        "amount": command.amount,
        "currency": command.currency,
        "orderSessionKey": command.order_session_key,
        "message": command.message,
    }


def _described(request: dict[str, Any]) -> str:
    amount = request.get("amount")
    return (
        f"{request.get('type')} of {dollars(amount)}" if isinstance(amount, int) else str(request.get("type"))
    )


def reused_for_another(command: OrderCommand, record: CommandRecord) -> str | None:
    """Why ``command`` is not the command ``record`` finished under its commandId (None: it is)."""
    asked = request_of(command)
    if record.request is not None:
        same = record.request == asked
        earlier = record.request
    else:
        same = (record.type, record.amount) == (command.type, command.amount)
        earlier = {"type": record.type, "amount": record.amount}
    if same:
        return None
    return (
        f"commandId-reused: commandId {command.command_id} was used for another command on this order "
        f"({_described(earlier)}, answered {record.status}); give a new command a new commandId"
    )
