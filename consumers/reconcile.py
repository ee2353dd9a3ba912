"""Order reconciliation, the decisions: which orders to ask Flex about, and what its answer means.

Pure functions and small state holders, no I/O; every time is passed in (epoch seconds), so they are
tested with an injected clock. A non-final order (``OPEN``) with no news for ``after_seconds`` is
looked up: by its orderSessionKey, or by its merchant orderId for a batch record that is FAILED
``no-batch-result`` (Flex may know the order although its answer never came back; one still
PENDING waits for its result file or that verdict). An order that stays unchanged is asked again
after a doubling wait (the retry policy of ``consumers/retry.py``) and left alone once past its
expiry plus a grace period. The caller drives the lookups through :class:`RateLimiter`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, get_args

from consumers.order_keys import order_key
from consumers.order_machine import is_legal
from consumers.retry import RetryPolicy
from schemas.flex import OrderDetails, OrderPage, OrderStatusCode
from schemas.order_state import OrderState
from schemas.status import OrderStatus, Status, status_of

__all__ = [
    "AGE_BUCKETS",
    "NO_BATCH_RESULT",
    "OPEN",
    "Candidate",
    "OpenState",
    "OrderLookup",
    "RateLimiter",
    "Schedule",
    "age_bucket",
    "candidate",
    "candidates_of",
    "flex_status",
    "look_up",
    "open_counts",
    "reconcile_status",
    "stored_candidate",
    "stored_last_news",
]

OpenState = Literal["PENDING", "SUBMITTED", "CHALLENGE", "CAPTUREREQUIRED"]
OPEN: tuple[OpenState, ...] = get_args(OpenState)
NO_BATCH_RESULT = "no-batch-result"
# Non-cumulative buckets of the time since an order's last news: (label, upper bound in seconds).
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("0-5m", 300.0),
    ("5m-1h", 3600.0),
    ("1h-6h", 6 * 3600.0),
    ("6h-1d", 86_400.0),
    ("1d+", math.inf),
)
# Flex's statusName (or the name of its integer code) → the OrderStatus it means (flex-api.md §2.5).
_BY_NAME: dict[str, Status] = {
    "APPROVED": "APPROVED", "COMPLETED": "APPROVED", "SUCCESS": "APPROVED",
    "DECLINED": "DECLINED", "PROBLEM": "DECLINED",
    "CHALLENGE": "CHALLENGE", "ONHOLD": "CHALLENGE",
    "SUBMITTED": "SUBMITTED", "PROCESSING": "SUBMITTED", "DRAFT": "SUBMITTED",
    "CAPTUREREQUIRED": "CAPTUREREQUIRED",
    "CANCELLED": "CANCELLED", "EXPIRED": "EXPIRED",
    "REFUNDED": "REFUNDED", "RETURNED": "REFUNDED", "CHARGEBACK": "CHARGEBACK",
}  # fmt: skip


def age_bucket(seconds: float) -> str:
    """The bucket label of an age in seconds (a negative age, from clock skew, is ``0-5m``)."""
    return next(label for label, bound in AGE_BUCKETS if seconds < bound)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A non-final order as reconciliation sees it; ``by_order_id`` when Flex's id is not known."""

    order_id: str
    status: Status
    order_session_key: str | None
    first_news: float
    last_news: float
    mid: str | None = None  # the order's merchant: two merchants' orders of one orderId are two

    @property
    def key(self) -> str:
        """The order among every merchant's: ``mid/orderId``, or the orderId when it names none."""
        return order_key(self.order_id, self.mid, by_merchant=True)

    @property
    def by_order_id(self) -> bool:
        return self.order_session_key is None

    @property
    def askable(self) -> bool:
        """A batch record still PENDING is not asked about: its result file may yet come, and the
        batch path turns it into FAILED ``no-batch-result`` when it does not (then it is asked)."""
        return self.order_session_key is not None or self.status == "FAILED"


def _failed_batch(status: object, last_note: object) -> bool | None:
    """The rule of a lookup, on an order's status and its last history note: None when the order is
    no candidate (final, or FAILED otherwise), else whether it is a batch record without a result
    (FAILED ``no-batch-result``: asked by its orderId, whatever orderSessionKey it has)."""
    failed_batch = status == "FAILED" and last_note == NO_BATCH_RESULT
    return failed_batch if status in OPEN or failed_batch else None


def candidate(state: OrderState) -> Candidate | None:
    """The order as a candidate for a lookup, or None when it is final (or flagged FAILED otherwise)."""
    last = state.history[-1] if state.history else None
    failed_batch = _failed_batch(state.status, last.note if last is not None else None)
    if state.status is None or failed_batch is None:
        return None
    first = state.history[0].at.timestamp() if state.history else state.updated_at.timestamp()
    key = None if failed_batch else state.order_session_key
    return Candidate(state.order_id, state.status, key, first, state.updated_at.timestamp(), state.mid)


def candidates_of(states: Iterable[OrderState]) -> list[Candidate]:
    """The candidates among ``states`` (:func:`candidate`), in their order."""
    return [c for c in map(candidate, states) if c is not None]


def stored_candidate(doc: dict[str, Any]) -> Candidate | None:
    """:func:`candidate` of an order's stored JSON, decoded (``OrderState`` by alias), without
    building the model: the worker's pass reads every order it owns, most of them final, and an
    ``OrderState`` costs several times the decode. ValueError when the JSON is not an order's."""
    try:
        status, history = doc["status"], doc["history"]
        failed_batch = _failed_batch(status, history[-1].get("note") if history else None)
        if failed_batch is None:
            return None
        last_news = stored_last_news(doc)
        first_news = _timestamp(history[0]["at"]) if history else last_news
        key = None if failed_batch else doc.get("orderSessionKey")
        return Candidate(doc["orderId"], status, key, first_news, last_news, doc.get("mid"))
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"not an order's stored JSON ({type(exc).__name__}: {exc})") from None


def stored_last_news(doc: dict[str, Any]) -> float:
    """When an order's stored JSON, decoded, last had news (its ``updatedAt``), in seconds since the
    epoch. ValueError when it has none."""
    try:
        return _timestamp(doc["updatedAt"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not an order's stored JSON ({type(exc).__name__}: {exc})") from None


def _timestamp(text: str) -> float:
    """An ISO 8601 time as stored (``…Z`` or an offset) in seconds since the epoch."""
    return datetime.fromisoformat(text).timestamp()


class OrderLookup(Protocol):
    """The two Flex calls reconciliation makes (``consumers.flex.client.FlexClient`` has them)."""

    async def get_order(self, order_session_key: str) -> OrderDetails: ...

    async def find_orders(self, query: str, page_size: int = 50) -> OrderPage: ...


async def look_up(flex: OrderLookup, order: Candidate) -> OrderDetails | None:
    """Flex's order: by orderSessionKey, else the newest whose merchant orderId is ``order_id``
    (None when Flex shows none). Flex errors (``FlexNotFound`` …) propagate to the caller."""
    if order.order_session_key is not None:
        return await flex.get_order(order.order_session_key)
    page = await flex.find_orders(order.order_id)
    return next((item for item in page.items if item.id and item.external_order_id == order.order_id), None)


def open_counts(candidates: Iterable[Candidate], now: float) -> dict[tuple[str, str], int]:
    """Non-final orders by (state, age bucket of their last news); every pair present, 0 or more."""
    counts: dict[tuple[str, str], int] = {(state, label): 0 for state in OPEN for label, _ in AGE_BUCKETS}
    for order in candidates:
        if order.status in OPEN:
            counts[order.status, age_bucket(now - order.last_news)] += 1
    return counts


def flex_status(answer: OrderDetails, now: float) -> Status | None:
    """What Flex's order says as an OrderStatus: by ``statusName``, else by the integer ``status``
    (2, Cancelled, is EXPIRED once the order's expiry has passed). None when neither is known."""
    if answer.status_name:
        return _BY_NAME.get(answer.status_name.strip().upper().replace("_", "").replace(" ", ""))
    if answer.status is None or answer.status not in OrderStatusCode._value2member_map_:
        return None
    code = OrderStatusCode(answer.status)
    expired = answer.expiry_date is not None and answer.expiry_date.timestamp() <= now
    if code is OrderStatusCode.CANCELLED and expired:
        return "EXPIRED"
    return _BY_NAME[code.name]


def reconcile_status(order: Candidate, answer: OrderDetails, status: Status) -> OrderStatus | None:
    """The OrderStatus to publish (``source: "reconcile"``), or None when nothing changed or the
    order machine would refuse the move. Its eventId names the Flex order and the status, so two
    reconcilers finding the same change publish one history entry."""
    key = answer.id or order.order_session_key
    if status == order.status or not is_legal(order.status, status):
        return None
    detail = {"flexStatus": answer.status_name, "flexStatusCode": answer.status}
    detail["lookup"] = "orderId" if order.by_order_id else "orderSessionKey"
    if order.mid is not None:
        detail["mid"] = order.mid
    event_id = f"reconcile:{key}:{status}"
    return status_of(order.order_id, status, "reconcile", event_id, session_key=key, detail=detail)


@dataclass(slots=True)
class _Tracked:
    news: float  # the last news the lookups so far answered
    lookups: int = 0
    next_at: float = 0.0
    expiry: float | None = None  # Flex's expiryDate, once an answer gave it


@dataclass(slots=True)
class Schedule:
    """Which candidates are due: no news for ``after`` seconds, their per-order backoff over, not
    past their expiry (Flex's, else ``window`` from their first news) plus ``grace``."""

    after: float
    backoff: RetryPolicy
    window: timedelta
    grace: float
    _orders: dict[str, _Tracked] = field(default_factory=dict)

    def due(self, candidates: Iterable[Candidate], now: float) -> list[Candidate]:
        """The due candidates, the longest without news first; forgets orders no longer open."""
        seen: dict[str, _Tracked] = {}
        due: list[Candidate] = []
        for order in candidates:
            tracked = self._orders.get(order.key)
            if tracked is None or tracked.news != order.last_news:
                tracked = _Tracked(order.last_news)  # news since the last lookup: start over
            seen[order.key] = tracked
            if order.askable and self._is_due(order, tracked, now):
                due.append(order)
        self._orders = seen
        return sorted(due, key=lambda order: order.last_news)

    def _is_due(self, order: Candidate, tracked: _Tracked, now: float) -> bool:
        expiry = (
            tracked.expiry if tracked.expiry is not None else order.first_news + self.window.total_seconds()
        )
        return now - order.last_news >= self.after and now >= tracked.next_at and now <= expiry + self.grace

    def looked_up(self, key: str, now: float, expiry: datetime | None = None) -> None:
        """A lookup of the order of ``key`` (:attr:`Candidate.key`) changed nothing (or failed):
        ask again after the next wait."""
        tracked = self._orders.get(key)
        if tracked is None:
            return
        tracked.next_at = now + self.backoff.ceiling(tracked.lookups)
        tracked.lookups += 1
        if expiry is not None:
            tracked.expiry = expiry.timestamp()


@dataclass(slots=True)
class RateLimiter:
    """At most ``per_second`` lookups a second, evenly spaced: :meth:`wait` says how long to wait
    before the next one and books its slot."""

    per_second: float
    _next: float = -math.inf

    def wait(self, now: float) -> float:
        start = max(now, self._next)
        self._next = start + 1.0 / self.per_second
        return start - now
