"""The order life cycle: which status may follow which, and how an OrderStatus changes an OrderState.

Pure functions, no I/O. Every OrderStatus lands in the order's history with a verdict; only a
legal one moves the order. An illegal or out-of-order status (``EXPIRED`` after ``APPROVED``) is
kept in the history and flags the order, never applied blindly; one its publisher marked late
(``detail.late``: Flex's answer that came after the order's later news) is kept, unflagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, get_args

import orjson

from schemas.codec import kept
from schemas.order_state import CommandRecord, HistoryEntry, OrderState, Verdict
from schemas.status import OrderStatus, Status, utcnow

__all__ = [
    "CLOSED",
    "HISTORY_LIMIT",
    "TRANSITIONS",
    "apply_status",
    "fold_json",
    "is_legal",
    "opens_no_order",
    "record_command",
    "starts_new_attempt",
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


# an OrderState's JSON field names, and a new order's JSON (``updatedAt`` is set by every change
# but a command's REJECTED / FAILED answer, which is no news of the order)
_ALIASES: dict[str, str] = {name: f.alias or name for name, f in OrderState.model_fields.items()}
_EMPTY: dict[str, Any] = OrderState(order_id="").model_dump(mode="json", by_alias=True)


def is_legal(current: Status | None, new: Status) -> bool:
    return new == current or new in TRANSITIONS[current]


class _Facts(NamedTuple):
    """What the machine reads of an order (from an OrderState or from its stored JSON)."""

    status: Status | None
    order_session_key: str | None
    mid: str | None
    flags: Sequence[str]
    seen: bool  # the history holds this status of this event already
    commanded: bool  # the command handler recorded this command already


def starts_new_attempt(
    current: Status | None, current_session: str | None, source: str, session: str | None
) -> bool:
    """Whether a status from ``source`` about the Flex order ``session`` starts a new attempt of an
    order at ``current`` whose Flex order is ``current_session``: an evaluate or batch answer about
    another Flex order, after the last attempt ended."""
    return (
        source in ("evaluate", "batch")
        and current in CLOSED
        and session is not None
        and session != current_session
    )


def _new_attempt(current: _Facts, status: OrderStatus) -> bool:
    return starts_new_attempt(
        current.status, current.order_session_key, status.source, status.order_session_key
    )


def opens_no_order(status: OrderStatus) -> bool:
    """A command's REJECTED or FAILED answer: it says nothing of the order, so it never makes an
    order flexbridge does not have (a command naming the wrong merchant, or an order nobody has,
    must not leave an order behind). An order that exists records it in its history."""
    return status.source == "command" and status.status in ("REJECTED", "FAILED")


def _verdict(current: _Facts, status: OrderStatus) -> Verdict:
    if current.seen:
        return "duplicate"
    if status.source == "command" and current.commanded:
        return "duplicate"  # the command handler applied it already
    if status.source == "command" and status.status in ("REJECTED", "FAILED"):
        return "answer"
    if status.status == current.status:
        return "confirmed"
    if _new_attempt(current, status) or is_legal(current.status, status.status):
        return "applied"
    return "late" if status.detail.get("late") is True else "illegal"


def _entry(status: OrderStatus, verdict: Verdict, note: str | None) -> HistoryEntry:
    return HistoryEntry(
        at=status.occurred_at,
        status=status.status,
        source=status.source,
        event_id=status.event_id,
        verdict=verdict,
        note=note,
    )


def _amounts(status: OrderStatus) -> dict[str, Any]:
    """Amounts a status may carry in ``detail`` (``amount``, ``currency``; cents)."""
    changes: dict[str, Any] = {}
    amount, currency = status.detail.get("amount"), status.detail.get("currency")
    if isinstance(amount, int) and not isinstance(amount, bool) and status.source in ("evaluate", "batch"):
        changes["authorised_amount"] = amount
    if isinstance(currency, str) and len(currency) == 3:
        changes["currency"] = currency.upper()
    return changes


def _step(current: _Facts, status: OrderStatus) -> tuple[Verdict, dict[str, Any], str | None]:
    """The verdict on ``status``, the fields it changes (but the history) and its history note."""
    verdict = _verdict(current, status)
    changes: dict[str, Any] = {}
    if verdict == "duplicate":
        return verdict, changes, None
    if verdict not in ("answer", "late"):  # a refused command, a late answer: no news, its age stays
        changes["updated_at"] = utcnow()
    mid = status.detail.get("mid")
    if current.mid is None and isinstance(mid, str) and mid:
        changes["mid"] = mid  # the order's merchant: its commands run as that merchant
    note = status.reason
    if verdict == "illegal":
        note = f"illegal transition {current.status} → {status.status} (source {status.source}); not applied"
        changes.update(flagged=True, flags=(*current.flags, note)[-HISTORY_LIMIT:])
    elif verdict == "late":
        note = f"late {status.source} answer {status.status} after {current.status}; not applied"
    elif verdict in ("applied", "confirmed"):
        if _new_attempt(current, status):
            changes.update(authorised_amount=None, captured_amount=0, refunded_amount=0)
        changes.update(status=status.status, **_amounts(status))
        if status.order_session_key:
            changes["order_session_key"] = status.order_session_key
    return verdict, changes, note


def apply_status(state: OrderState | None, status: OrderStatus) -> tuple[OrderState, Verdict]:
    """The state after ``status``, and what the machine made of it."""
    if state is None:
        state = OrderState(order_id=status.order_id)
    seen = any(h.event_id == status.event_id and h.status == status.status for h in state.history)
    facts = _Facts(
        state.status, state.order_session_key, state.mid, state.flags, seen, status.event_id in state.commands
    )
    verdict, changes, note = _step(facts, status)
    if verdict == "duplicate":
        return state, verdict
    history = (*state.history, _entry(status, verdict, note))[-HISTORY_LIMIT:]
    return state.model_copy(update={**changes, "history": history}), verdict


def fold_json(stored: bytes | None, status: OrderStatus) -> tuple[bytes | None, Verdict, str | None]:
    """:func:`apply_status` on an order's stored JSON (as ``OrderState.model_dump_json(by_alias=True)``
    writes it, None for a new order): the new JSON (None for a duplicate: nothing to write), the
    verdict and the history note. The same rule, without building the models: the order table's
    hot path, which reads and writes JSON anyway."""
    doc: dict[str, Any] = {**_EMPTY, "orderId": status.order_id}
    if stored is not None:
        doc.update(orjson.loads(stored))
    history: list[dict[str, Any]] = doc["history"]
    seen = any(h.get("eventId") == status.event_id and h.get("status") == status.status for h in history)
    commanded = status.event_id in doc["commands"]
    facts = _Facts(doc["status"], doc["orderSessionKey"], doc["mid"], doc["flags"], seen, commanded)
    verdict, changes, note = _step(facts, status)
    if verdict == "duplicate":
        return None, verdict, note
    if stored is None:
        changes.setdefault("updated_at", utcnow())  # a new order's age starts now, as its model's
    entry = {
        "at": status.occurred_at,
        "status": status.status,
        "source": status.source,
        "eventId": status.event_id,
        "verdict": verdict,
        "note": note,
    }
    doc.update((_ALIASES[name], value) for name, value in changes.items())
    doc["history"] = [*history, entry][-HISTORY_LIMIT:]
    return kept(orjson.dumps(doc, option=orjson.OPT_UTC_Z)), verdict, note  # held by the order table


def record_command(
    state: OrderState | None,
    answer: OrderStatus,
    record: CommandRecord | None,
    changes: dict[str, Any],
) -> OrderState:
    """The state after a command's own effect: applied by the command handler itself, at once,
    so the next command of the same order checks fresh amounts. Without ``record`` (the command
    is not finished: FAILED) only ``changes`` apply, and a call it sent stays in ``calls_sent``
    (``consumers.sent_calls``); its answer reaches the history by the topic."""
    if state is None:
        state = OrderState(order_id=answer.order_id)
    refused = answer.status in ("REJECTED", "FAILED")
    news = {} if refused else {"updated_at": utcnow()}  # a refusal leaves the order's age alone
    if record is None:
        return state.model_copy(update={**changes, **news})
    entry = _entry(answer, "answer" if refused else "applied", answer.reason)
    commands = {**state.commands, answer.event_id: record}
    history = (*state.history, entry)[-HISTORY_LIMIT:]
    update = {**changes, "commands": commands, "history": history, **news}
    if answer.event_id in state.calls_sent:  # finished: its record answers a re-run from now on
        update["calls_sent"] = {k: v for k, v in state.calls_sent.items() if k != answer.event_id}
    return state.model_copy(update=update)
