"""The order life cycle: which status may follow which, and how an OrderStatus changes an OrderState.

Pure functions, no I/O. Every OrderStatus lands in the order's history with a verdict; only a
legal one moves the order. An illegal or out-of-order status (``EXPIRED`` after ``APPROVED``) is
kept in the history and flags the order, never applied blindly.
"""

from __future__ import annotations

from typing import Any, get_args

from schemas.order_state import CommandRecord, HistoryEntry, OrderState, Verdict
from schemas.status import OrderStatus, Status, utcnow

__all__ = [
    "CLOSED",
    "HISTORY_LIMIT",
    "TRANSITIONS",
    "apply_status",
    "is_legal",
    "record_command",
]

HISTORY_LIMIT = 200

_ANY: frozenset[Status] = frozenset(get_args(Status))
_OPEN: frozenset[Status] = frozenset(
    {"APPROVED", "DECLINED", "CHALLENGE", "CAPTUREREQUIRED", "EXPIRED", "CANCELLED"}
)

# current status (None = not known yet) → the statuses that may follow it. Staying in the same
# status is always allowed (a confirmation).
TRANSITIONS: dict[Status | None, frozenset[Status]] = {
    None: _ANY,
    "REJECTED": _ANY,  # the request was refused: nothing exists at Flex yet
    "FAILED": _ANY,  # flexbridge gave up: the order may or may not exist
    "PENDING": _OPEN | {"SUBMITTED", "REJECTED", "FAILED"},
    "SUBMITTED": _OPEN,
    "CHALLENGE": _OPEN,
    "CAPTUREREQUIRED": frozenset({"APPROVED", "CANCELLED", "EXPIRED"}),
    "DECLINED": frozenset({"APPROVED", "CHALLENGE", "SUBMITTED"}),  # sync MIT: Flex keeps trying
    "APPROVED": frozenset({"REFUNDED", "CHARGEBACK"}),
    "REFUNDED": frozenset({"CHARGEBACK"}),
    "CHARGEBACK": frozenset({"REFUNDED"}),
    "EXPIRED": frozenset(),
    "CANCELLED": frozenset(),
}

# An attempt that ended; a new /evaluate (new orderSessionKey) for the same merchant order starts over.
CLOSED: frozenset[Status] = frozenset({"DECLINED", "EXPIRED", "CANCELLED", "REJECTED", "FAILED"})


def is_legal(current: Status | None, new: Status) -> bool:
    return new == current or new in TRANSITIONS[current]


def _new_attempt(state: OrderState, status: OrderStatus) -> bool:
    return (
        status.source in ("evaluate", "batch")
        and state.status in CLOSED
        and status.order_session_key is not None
        and status.order_session_key != state.order_session_key
    )


def _verdict(state: OrderState, status: OrderStatus) -> Verdict:
    if any(h.event_id == status.event_id and h.status == status.status for h in state.history):
        return "duplicate"
    if status.source == "command" and status.event_id in state.commands:
        return "duplicate"  # the command handler applied it already
    if status.source == "command" and status.status in ("REJECTED", "FAILED"):
        return "answer"
    if status.status == state.status:
        return "confirmed"
    if _new_attempt(state, status) or is_legal(state.status, status.status):
        return "applied"
    return "illegal"


def _entry(status: OrderStatus, verdict: Verdict, note: str | None) -> HistoryEntry:
    return HistoryEntry(
        at=status.occurred_at,
        status=status.status,
        source=status.source,
        event_id=status.event_id,
        verdict=verdict,
        note=note,
    )


def _amounts(state: OrderState, status: OrderStatus) -> dict[str, Any]:
    """Amounts a status may carry in ``detail`` (``amount``, ``currency``; cents)."""
    changes: dict[str, Any] = {}
    amount, currency = status.detail.get("amount"), status.detail.get("currency")
    if isinstance(amount, int) and not isinstance(amount, bool) and status.source in ("evaluate", "batch"):
        changes["authorised_amount"] = amount
    if isinstance(currency, str) and len(currency) == 3:
        changes["currency"] = currency.upper()
    return changes


def apply_status(state: OrderState | None, status: OrderStatus) -> tuple[OrderState, Verdict]:
    """The state after ``status``, and what the machine made of it."""
    if state is None:
        state = OrderState(order_id=status.order_id)
    verdict = _verdict(state, status)
    if verdict == "duplicate":
        return state, verdict
    changes: dict[str, Any] = {"updated_at": utcnow()}
    mid = status.detail.get("mid")
    if state.mid is None and isinstance(mid, str) and mid:
        changes["mid"] = mid  # the order's merchant: its commands run as that merchant
    note = status.reason
    if verdict == "illegal":
        note = f"illegal transition {state.status} → {status.status} (source {status.source}); not applied"
        changes.update(flagged=True, flags=(*state.flags, note)[-HISTORY_LIMIT:])
    elif verdict in ("applied", "confirmed"):
        if _new_attempt(state, status):
            changes.update(authorised_amount=None, captured_amount=0, refunded_amount=0)
        changes.update(status=status.status, **_amounts(state, status))
        if status.order_session_key:
            changes["order_session_key"] = status.order_session_key
    history = (*state.history, _entry(status, verdict, note))[-HISTORY_LIMIT:]
    return state.model_copy(update={**changes, "history": history}), verdict


def record_command(
    state: OrderState | None,
    answer: OrderStatus,
    record: CommandRecord | None,
    changes: dict[str, Any],
) -> OrderState:
    """The state after a command's own effect: applied by the command handler itself, at once,
    so the next command of the same order checks fresh amounts. Without ``record`` (the command
    is not finished: FAILED) only ``changes`` apply; its answer reaches the history by the topic."""
    if state is None:
        state = OrderState(order_id=answer.order_id)
    if record is None:
        return state.model_copy(update={**changes, "updated_at": utcnow()})
    verdict: Verdict = "answer" if answer.status in ("REJECTED", "FAILED") else "applied"
    entry = _entry(answer, verdict, answer.reason)
    commands = {**state.commands, answer.event_id: record}
    history = (*state.history, entry)[-HISTORY_LIMIT:]
    update = {**changes, "commands": commands, "history": history, "updated_at": utcnow()}
    return state.model_copy(update=update)
