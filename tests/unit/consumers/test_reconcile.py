"""Reconciliation's decisions with an injected clock: due or not, expiry and grace, backoff per order,
Flex's status as an OrderStatus, the age buckets and the rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from consumers.order_machine import apply_status
from consumers.reconcile import (
    AGE_BUCKETS,
    NO_BATCH_RESULT,
    OPEN,
    Candidate,
    RateLimiter,
    Schedule,
    age_bucket,
    candidate,
    candidates_of,
    flex_status,
    look_up,
    open_counts,
    reconcile_status,
    stored_candidate,
)
from consumers.retry import RetryPolicy
from schemas.flex import OrderDetails, OrderPage
from schemas.order_state import OrderState
from schemas.status import Status, status_of

T0 = datetime(2025, 3, 1, tzinfo=UTC).timestamp()
DAY = 86_400.0


def order(
    status: Status = "SUBMITTED", *, news: float = T0, first: float = T0, key: str | None = "k-1"
) -> Candidate:
    return Candidate("ORD-1", status, key, first, news)


def schedule(after: float = 900, grace: float = DAY, window_days: int = 14) -> Schedule:
    return Schedule(after, RetryPolicy(60, 3600), timedelta(days=window_days), grace)


def state_of(*steps: tuple[Status, str | None], at: float = T0) -> OrderState:
    state = None
    for i, (status, reason) in enumerate(steps):
        when = datetime.fromtimestamp(at, UTC)
        s = status_of("ORD-1", status, "batch", f"e{i}", session_key=None, reason=reason, occurred_at=when)
        state, _ = apply_status(state, s)
    assert state is not None
    return state.model_copy(update={"updated_at": datetime.fromtimestamp(at, UTC)})


def test_an_order_is_due_only_after_its_quiet_time() -> None:
    s = schedule(after=900)
    assert s.due([order()], T0 + 899) == []
    assert s.due([order()], T0 + 900) == [order()]


def test_an_unchanged_order_is_asked_again_after_a_doubling_wait() -> None:
    s, o = schedule(), order()
    now = T0 + 1000
    assert s.due([o], now) == [o]
    s.looked_up("ORD-1", now)
    assert s.due([o], now + 59) == []
    assert s.due([o], now + 60) == [o]
    s.looked_up("ORD-1", now + 60)
    assert s.due([o], now + 60 + 119) == []
    assert s.due([o], now + 60 + 120) == [o]


def test_news_since_the_last_lookup_starts_the_backoff_over() -> None:
    s = schedule(after=900)
    s.due([order()], T0 + 1000)
    s.looked_up("ORD-1", T0 + 1000)
    newer = order(news=T0 + 1500)
    assert s.due([newer], T0 + 2399) == []  # quiet for less than 900 s since the news
    assert s.due([newer], T0 + 2400) == [newer]  # and no backoff left over from before


def test_past_expiry_plus_grace_an_order_is_left_alone() -> None:
    s = schedule(grace=DAY, window_days=14)
    o = order()
    assert s.due([o], T0 + 15 * DAY) == [o]
    assert s.due([o], T0 + 15 * DAY + 1) == []  # the MIT window from its first news, plus a day


def test_flex_expiry_date_replaces_the_configured_window() -> None:
    s, o = schedule(grace=3600), order()
    s.due([o], T0 + 1000)
    s.looked_up("ORD-1", T0 + 1000, datetime.fromtimestamp(T0 + 2 * DAY, UTC))
    assert s.due([o], T0 + 2 * DAY + 3600) == [o]
    assert s.due([o], T0 + 2 * DAY + 3601) == []


def test_due_orders_come_oldest_first_and_closed_orders_are_forgotten() -> None:
    s = schedule(after=10)
    a, b = Candidate("A", "CHALLENGE", "j", T0, T0 + 5), Candidate("B", "SUBMITTED", "k", T0, T0)
    assert s.due([a, b], T0 + 100) == [b, a]
    s.looked_up("A", T0 + 100)
    s.due([b], T0 + 101)  # A closed meanwhile
    assert s.due([a, b], T0 + 102) == [b, a]  # A is new again: no backoff remembered


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"statusName": "APPROVED", "status": 7}, "APPROVED"),
        ({"statusName": "EXPIRED", "status": 2}, "EXPIRED"),
        ({"statusName": "CANCELLED", "status": 2}, "CANCELLED"),
        ({"statusName": "SUBMITTED", "status": 4}, "SUBMITTED"),
        ({"statusName": "CHALLENGE", "status": 1}, "CHALLENGE"),
        ({"statusName": "capturerequired"}, "CAPTUREREQUIRED"),
        ({"statusName": "DECLINED", "status": 3}, "DECLINED"),
        ({"statusName": "REFUNDED", "status": 6}, "REFUNDED"),
        ({"status": 7}, "APPROVED"),
        ({"status": 4}, "SUBMITTED"),
        ({"status": 5}, "CAPTUREREQUIRED"),
        ({"status": 1}, "CHALLENGE"),
        ({"status": 3}, "DECLINED"),
        ({"status": 6}, "REFUNDED"),
        ({"status": 0}, "SUBMITTED"),
        ({"status": 2}, "CANCELLED"),
        ({"status": 2, "expiryDate": "2025-02-01T00:00:00Z"}, "EXPIRED"),
        ({"status": "Completed"}, "APPROVED"),
        ({"statusName": "SOMETHING-NEW"}, None),
        ({"status": 42}, None),
        ({}, None),
    ],
)
def test_flex_status_as_an_order_status(answer: dict[str, Any], expected: Status | None) -> None:
    assert flex_status(OrderDetails.model_validate({"id": "k-1", **answer}), T0) == expected


def test_a_changed_state_is_a_reconcile_status_and_an_unchanged_one_is_nothing() -> None:
    answer = OrderDetails.model_validate({"id": "k-1", "statusName": "APPROVED", "status": 7})
    published = reconcile_status(order("SUBMITTED"), answer, "APPROVED")
    assert published is not None
    assert (published.source, published.status, published.order_session_key) == (
        "reconcile",
        "APPROVED",
        "k-1",
    )
    assert published.event_id == "reconcile:k-1:APPROVED"
    assert published.detail == {"flexStatus": "APPROVED", "flexStatusCode": 7, "lookup": "orderSessionKey"}
    assert reconcile_status(order("SUBMITTED"), answer, "SUBMITTED") is None
    assert reconcile_status(order("CAPTUREREQUIRED"), answer, "SUBMITTED") is None  # the machine refuses it


def test_a_batch_record_without_a_result_is_asked_by_its_order_id() -> None:
    failed = state_of(("PENDING", None), ("FAILED", "no-batch-result"))
    found = candidate(failed)
    assert found is not None and found.by_order_id and found.status == "FAILED"
    answer = OrderDetails.model_validate({"id": "k-9", "externalOrderId": "ORD-1", "statusName": "APPROVED"})
    published = reconcile_status(found, answer, "APPROVED")
    assert published is not None and published.order_session_key == "k-9"
    assert published.detail["lookup"] == "orderId"


def test_a_batch_record_still_pending_waits_for_its_result_file() -> None:
    pending = candidate(state_of(("PENDING", None)))
    assert pending is not None and not pending.askable
    assert schedule(after=1).due([pending], T0 + 100) == []


def test_only_non_final_orders_and_unanswered_batch_records_are_candidates() -> None:
    assert candidate(state_of(("PENDING", None))) is not None
    assert candidate(state_of(("SUBMITTED", None), ("APPROVED", None))) is None
    assert candidate(state_of(("FAILED", "retries-exhausted"))) is None
    assert candidate(state_of(("DECLINED", None))) is None


@pytest.mark.parametrize(
    "steps",
    [
        [("PENDING", None)],
        [("PENDING", None), ("SUBMITTED", None)],
        [("SUBMITTED", None), ("CHALLENGE", None)],
        [("SUBMITTED", None), ("CAPTUREREQUIRED", None)],
        [("SUBMITTED", None), ("APPROVED", None)],
        [("PENDING", None), ("FAILED", NO_BATCH_RESULT)],
        [("FAILED", "retries-exhausted")],
        [("DECLINED", None)],
        [("SUBMITTED", None), ("EXPIRED", None)],
        [("SUBMITTED", None), ("APPROVED", None), ("REFUNDED", None)],
    ],
)
def test_the_stored_json_gives_the_candidate_the_model_gives(steps: list[tuple[Status, str | None]]) -> None:
    """The worker's pass reads each order's stored JSON without building the model."""
    state = state_of(*steps, at=T0 - 3600).model_copy(update={"mid": "mid-acme"})
    assert stored_candidate(orjson.loads(state.model_dump_json(by_alias=True))) == candidate(state)


def test_a_stored_value_that_is_not_an_order_is_a_value_error() -> None:
    assert stored_candidate({"orderId": "ORD-1", "status": None, "history": []}) is None
    for doc in (
        {"orderId": "ORD-1"},
        {"status": "PENDING", "history": [1]},
        {"status": "PENDING", "history": []},
    ):
        with pytest.raises(ValueError, match="not an order's stored JSON"):
            stored_candidate(doc)


class Flex:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.asked: list[str] = []

    async def get_order(self, order_session_key: str) -> OrderDetails:
        self.asked.append(f"get {order_session_key}")
        return OrderDetails.model_validate(self.items[0])

    async def find_orders(self, query: str, page_size: int = 50) -> OrderPage:
        self.asked.append(f"find {query}")
        return OrderPage.model_validate({"items": self.items})


async def test_look_up_by_key_or_by_the_newest_order_with_that_merchant_id() -> None:
    flex = Flex([{"id": "k-2", "externalOrderId": "ORD-10"}, {"id": "k-1", "externalOrderId": "ORD-1"}])
    found = await look_up(flex, order(key=None))
    assert found is not None and found.id == "k-1"  # ORD-10 contains ORD-1 but is another order
    assert (await look_up(flex, order(key="k-2"))) is not None
    assert flex.asked == ["find ORD-1", "get k-2"]
    assert await look_up(Flex([{"id": "k-2", "externalOrderId": "ORD-10"}]), order(key=None)) is None


def test_age_buckets_are_non_cumulative() -> None:
    assert [age_bucket(s) for s in (-5, 0, 299, 300, 3599, 3600, 21_600, 86_399, 86_400, 10 * DAY)] == [
        "0-5m", "0-5m", "0-5m", "5m-1h", "5m-1h", "1h-6h", "6h-1d", "6h-1d", "1d+", "1d+",
    ]  # fmt: skip


def test_open_counts_cover_every_state_and_bucket() -> None:
    states = [
        state_of(("PENDING", None), at=T0),
        state_of(("SUBMITTED", None), at=T0 - 7200),
        state_of(("SUBMITTED", None), at=T0 - 7300),
        state_of(("SUBMITTED", None), ("APPROVED", None), at=T0),
    ]
    counts = open_counts(candidates_of(states), T0 + 10)
    assert len(counts) == len(OPEN) * len(AGE_BUCKETS)
    assert counts["PENDING", "0-5m"] == 1 and counts["SUBMITTED", "1h-6h"] == 2
    assert sum(counts.values()) == 3


def test_the_rate_limit_spaces_lookups_evenly() -> None:
    limiter = RateLimiter(per_second=4)
    assert [limiter.wait(T0) for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    assert limiter.wait(T0 + 10) == 0.0  # idle time is not saved up into a burst
