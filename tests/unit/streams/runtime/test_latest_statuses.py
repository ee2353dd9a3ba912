"""Which statuses are no news: a webhook older than the order's latest status, or Flex's late answer
about the Flex order the latest status is news of, when the order machine could not apply either."""

from __future__ import annotations

from datetime import datetime

from schemas.status import OrderStatus, Status, status_of
from streams.runtime.latest_statuses import LatestStatuses


def _webhook(order: str, status: str, at: str) -> OrderStatus:
    return status_of(order, status, "webhook", f"e:{order}", occurred_at=datetime.fromisoformat(at))  # type: ignore[arg-type]


def test_a_webhook_older_than_the_orders_latest_status_that_cannot_follow_it_is_superseded() -> None:
    latest = LatestStatuses()
    latest.observe("ORD-1", "CAPTUREREQUIRED", "evaluate", "2026-01-01T10:00:00Z")
    latest.observe("ORD-1", "CANCELLED", "command", "2026-01-01T10:01:00+00:00")
    assert latest.superseded(_webhook("ORD-1", "CAPTUREREQUIRED", "2026-01-01T10:00:00+00:00"))
    assert not latest.superseded(_webhook("ORD-1", "CANCELLED", "2026-01-01T10:00:59+00:00"))  # same
    assert not latest.superseded(_webhook("ORD-2", "APPROVED", "2026-01-01T10:00:00+00:00"))  # unknown


def test_a_legal_or_newer_webhook_is_news() -> None:
    latest = LatestStatuses()
    latest.observe("ORD-1", "SUBMITTED", "batch", "2026-01-01T10:00:05+00:00")
    assert not latest.superseded(_webhook("ORD-1", "APPROVED", "2026-01-01T10:00:01+00:00"))  # legal
    latest.observe("ORD-1", "EXPIRED", "webhook", "2026-01-01T10:00:06+00:00")
    assert not latest.superseded(_webhook("ORD-1", "APPROVED", "2026-01-01T11:00:00+00:00"))  # newer


def test_command_answers_and_illegal_statuses_do_not_move_the_order() -> None:
    latest = LatestStatuses()
    latest.observe("ORD-1", "APPROVED", "evaluate", "2026-01-01T10:00:00+00:00")
    latest.observe("ORD-1", "REFUNDED", "command", "2026-01-01T10:01:00+00:00")
    latest.observe("ORD-1", "REJECTED", "command", "2026-01-01T10:02:00+00:00")  # a refused second refund
    latest.observe("ORD-1", "CAPTUREREQUIRED", "webhook", "2026-01-01T10:03:00+00:00")  # illegal: ignored
    assert latest.superseded(_webhook("ORD-1", "APPROVED", "2026-01-01T10:00:00+00:00"))


def test_latest_statuses_are_bounded() -> None:
    latest = LatestStatuses(max_entries=2)
    for i in range(3):
        latest.observe(f"ORD-{i}", "APPROVED", "evaluate", "2026-01-01T10:00:00+00:00")
    assert len(latest) == 2
    assert not latest.superseded(_webhook("ORD-0", "CAPTUREREQUIRED", "2026-01-01T09:00:00+00:00"))


def _answer(order: str, status: Status, session: str | None, source: str = "evaluate") -> OrderStatus:
    return status_of(order, status, source, f"evt-{order}", session_key=session)  # type: ignore[arg-type]


def test_flexs_late_answer_about_the_flex_order_the_order_moved_on_is_superseded() -> None:
    """The evaluate call was retried (or finished by a worker that lost the partition) until after
    the order's webhook, a capture and Flex's completion: its answer describes the order as Flex
    made it, older news than APPROVED."""
    latest = LatestStatuses()
    latest.observe("ORD-1", "CAPTUREREQUIRED", "webhook", "2026-01-01T10:00:00Z", "S1")
    latest.observe("ORD-1", "APPROVED", "command", "2026-01-01T10:00:30Z")  # a capture: no session given
    latest.observe("ORD-1", "APPROVED", "webhook", "2026-01-01T10:00:31Z", "S1")
    assert latest.superseded(_answer("ORD-1", "CAPTUREREQUIRED", "S1"))
    assert latest.superseded(_answer("ORD-1", "CAPTUREREQUIRED", "S1", source="batch"))
    assert not latest.superseded(_answer("ORD-1", "APPROVED", "S1"))  # the same status: a confirmation
    assert not latest.superseded(_answer("ORD-2", "CAPTUREREQUIRED", "S1"))  # another order


def test_an_answer_about_another_flex_order_or_none_is_news() -> None:
    latest = LatestStatuses()
    latest.observe("ORD-1", "DECLINED", "evaluate", "2026-01-01T10:00:00Z", "S1")
    assert not latest.superseded(_answer("ORD-1", "APPROVED", "S2"))  # a new attempt after a decline
    latest.observe("ORD-1", "APPROVED", "webhook", "2026-01-01T10:01:00Z", "S1")  # DECLINED → APPROVED
    assert not latest.superseded(
        _answer("ORD-1", "CAPTUREREQUIRED", "S9")
    )  # another Flex order: flagged, not hidden
    assert not latest.superseded(
        _answer("ORD-1", "FAILED", None)
    )  # no Flex order named: not known to be older


def test_a_new_attempt_starts_over_as_the_order_machine_does() -> None:
    """An evaluate answer about a new Flex order after the last attempt ended moves the order; one
    about the same Flex order does not (the machine would flag it)."""
    latest = LatestStatuses()
    latest.observe("ORD-1", "DECLINED", "evaluate", "2026-01-01T10:00:00Z", "S1")
    latest.observe("ORD-1", "CAPTUREREQUIRED", "evaluate", "2026-01-01T10:05:00Z", "S2")  # new attempt
    latest.observe("ORD-1", "CANCELLED", "command", "2026-01-01T10:06:00Z")
    assert latest.superseded(_answer("ORD-1", "CAPTUREREQUIRED", "S2"))
    latest.observe("ORD-1", "APPROVED", "evaluate", "2026-01-01T10:07:00Z", "S2")  # illegal: not kept
    assert latest.superseded(_answer("ORD-1", "CAPTUREREQUIRED", "S2"))  # still CANCELLED
