"""Which webhook outcomes wait: an order whose last status is a batch PENDING holds its outcome
back until the batch result (SUBMITTED, REJECTED or FAILED) is on orders.status."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from aiokafka import AIOKafkaProducer

from consumers.order_keys import order_key
from core.settings import KafkaSettings
from schemas.status import Source, Status, status_of
from streams.runtime.awaiting import AwaitingFollower, AwaitingResults


def test_an_outcome_waits_while_the_order_awaits_its_batch_result() -> None:
    awaiting = AwaitingResults()
    awaiting.observe("ORD-1", "PENDING", "batch", at=100.0)
    assert awaiting.holds("ORD-1", "APPROVED", now=101.0)
    assert awaiting.holds("ORD-1", "EXPIRED", now=101.0)
    assert not awaiting.holds("ORD-1", "SUBMITTED", now=101.0)  # never ahead of anything
    assert not awaiting.holds("ORD-2", "APPROVED", now=101.0)  # unknown order: published at once
    assert not awaiting.holds("ORD-1", None, now=101.0)  # an event without a status


def test_the_batch_result_releases_the_outcome() -> None:
    for result in ("SUBMITTED", "REJECTED", "FAILED"):
        awaiting = AwaitingResults()
        awaiting.observe("ORD-1", "PENDING", "batch", at=100.0)
        awaiting.observe("ORD-1", result, "batch", at=105.0)
        assert not awaiting.holds("ORD-1", "APPROVED", now=106.0)
        assert len(awaiting) == 0


def test_any_later_status_releases_it_and_only_a_batch_pending_holds() -> None:
    awaiting = AwaitingResults()
    awaiting.observe("ORD-1", "PENDING", "batch", at=100.0)
    awaiting.observe("ORD-1", "APPROVED", "reconcile", at=101.0)
    assert not awaiting.holds("ORD-1", "REFUNDED", now=102.0)
    awaiting.observe("ORD-2", "PENDING", "evaluate", at=100.0)  # not a batch record
    assert not awaiting.holds("ORD-2", "APPROVED", now=101.0)


def test_a_repeated_pending_keeps_holding() -> None:
    awaiting = AwaitingResults()
    awaiting.observe("ORD-1", "PENDING", "batch", at=100.0)
    awaiting.observe("ORD-1", "PENDING", "batch", at=110.0)  # a re-upload after a crash
    assert awaiting.holds("ORD-1", "APPROVED", now=111.0)


def test_an_uploaded_files_orders_hold_before_and_after_the_follower_reads_their_pending() -> None:
    awaiting = AwaitingResults(max_entries=3)
    awaiting.observe("ORD-0", "PENDING", "batch", at=90.0)
    awaiting.uploading(["ORD-1", "ORD-2", "ORD-3"], at=100.0)
    assert [awaiting.holds(f"ORD-{i}", "APPROVED", now=101.0) for i in range(4)] == [False, True, True, True]
    assert awaiting.forgotten == 1  # bounded as the follower's are
    awaiting.observe("ORD-1", "PENDING", "batch", at=100.5)  # the follower reads it back
    awaiting.observe("ORD-2", "SUBMITTED", "batch", at=103.0)  # the batch result
    assert awaiting.holds("ORD-1", "APPROVED", now=104.0)
    assert not awaiting.holds("ORD-2", "APPROVED", now=104.0)


def test_memory_is_bounded_the_oldest_forgotten_first() -> None:
    awaiting = AwaitingResults(max_entries=3)
    for i in range(5):
        awaiting.observe(f"ORD-{i}", "PENDING", "batch", at=100.0 + i)
    assert len(awaiting) == 3 and awaiting.forgotten == 2
    assert not awaiting.holds("ORD-0", "APPROVED", now=105.0)
    assert awaiting.holds("ORD-4", "APPROVED", now=105.0)


def test_a_pending_older_than_the_window_no_longer_holds_and_is_dropped() -> None:
    awaiting = AwaitingResults(window_seconds=60.0)
    awaiting.observe("ORD-old", "PENDING", "batch", at=0.0)
    assert not awaiting.holds("ORD-old", "APPROVED", now=61.0)
    awaiting.observe("ORD-new", "PENDING", "batch", at=70.0)
    assert "ORD-old" not in awaiting and "ORD-new" in awaiting
    assert awaiting.forgotten == 0  # aged out, not crowded out


def _record(order: str, status: Status, source: Source, mid: str | None) -> bytes:
    detail = {} if mid is None else {"mid": mid}
    return (
        status_of(order, status, source, f"e-{status}", detail=detail).model_dump_json(by_alias=True).encode()
    )


def test_two_merchants_orders_of_one_order_id_are_held_and_superseded_apart() -> None:
    follower = AwaitingFollower(
        KafkaSettings(), "orders.status", cast(AIOKafkaProducer, None), clock=lambda: 101.0
    )
    follower._observe(_record("ORD-1", "PENDING", "batch", "mid-acme"), 100_000)
    follower._observe(_record("ORD-1", "APPROVED", "evaluate", "mid-bolt"), 100_000)
    assert follower.holds(order_key("ORD-1", "mid-acme", by_merchant=True), "APPROVED")
    assert not follower.holds(order_key("ORD-1", "mid-bolt", by_merchant=True), "APPROVED")
    old = "2020-01-01T00:00:00Z"
    expired = status_of(
        "ORD-1",
        "EXPIRED",
        "webhook",
        "w",
        detail={"mid": "mid-bolt"},
        occurred_at=datetime.fromisoformat(old),
    )
    assert follower.latest.superseded(expired)  # bolt's order is APPROVED
    assert not follower.latest.superseded(expired.model_copy(update={"detail": {"mid": "mid-acme"}}))
