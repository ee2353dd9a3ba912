"""Reading a command from ``orders.commands``: the OrderCommand in a record, or what can be read of a
malformed one (its REJECTED answer names it). Pure: no Kafka, no I/O."""

from __future__ import annotations

from typing import Any, Final, get_args

from pydantic import ValidationError

from core.errors import InvalidEvent
from schemas.codec import decode_object
from schemas.commands import OrderCommand
from schemas.status import OrderStatus, status_of

__all__ = ["MalformedCommand", "answer_event_id", "decode_command", "malformed_answer", "order_of"]


class MalformedCommand(InvalidEvent):
    """A command that cannot be run; ``order_id`` (when readable) gets a REJECTED answer."""

    def __init__(
        self,
        message: str,
        order_id: str | None,
        command_id: str | None,
        mid: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.order_id = order_id
        self.command_id = command_id
        self.mid = mid
        self.kind = kind  # its type, when it is one of the three


def malformed_answer(bad: MalformedCommand, where: str) -> OrderStatus:
    """The REJECTED answer to a malformed command with a readable ``orderId``: ``detail`` names its
    ``commandId`` (null when unreadable), and its ``command`` type and ``mid`` when readable and
    valid; its eventId is the commandId, or ``where`` (``topic:partition:offset``) without one."""
    assert bad.order_id is not None  # only a command with an orderId is answered  # noqa: S101
    detail: dict[str, Any] = {"commandId": bad.command_id}
    if bad.kind is not None:
        detail["command"] = bad.kind
    if bad.mid is not None:
        detail["mid"] = bad.mid  # the merchant it names; the order's own is not looked up
    event_id, reason = _answer_id(bad, where), f"malformed command: {bad}"
    return status_of(bad.order_id, "REJECTED", "command", event_id, reason=reason, detail=detail)


def answer_event_id(raw: bytes | None, where: str) -> str:
    """The ``eventId`` of the answer to the command in ``raw``, read at ``where``
    (``topic:partition:offset``): its commandId, or for a malformed one without a readable
    commandId ``where`` (:func:`malformed_answer`)."""
    try:
        return decode_command(raw).command_id
    except MalformedCommand as bad:
        return _answer_id(bad, where)


def _answer_id(bad: MalformedCommand, where: str) -> str:
    return bad.command_id or where


_KINDS: Final = frozenset(get_args(OrderCommand.model_fields["type"].annotation))


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value.strip() else None


def decode_command(raw: bytes | None) -> OrderCommand:
    """The command in ``raw``; :class:`MalformedCommand` (an InvalidEvent) naming what can be read of it."""
    try:
        data = decode_object(raw)
    except InvalidEvent as exc:
        raise MalformedCommand(str(exc), None, None) from None
    try:
        return OrderCommand.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        order_id, mid, kind = _text(data, "orderId"), _text(data, "mid"), data.get("type")
        raise MalformedCommand(
            problems,
            order_id if order_id and len(order_id) <= 200 else None,
            _text(data, "commandId"),
            mid if mid and len(mid) <= 200 else None,
            kind if kind in _KINDS else None,
        ) from None


def order_of(raw: bytes | None) -> str | None:
    """The orderId of the command in ``raw``, as its answer names it (None: none can be read)."""
    try:
        return decode_command(raw).order_id
    except MalformedCommand as bad:
        return bad.order_id
