"""The order machine on stored JSON (``fold_json``, the order table's path) reaches the same state and
verdict as on the models (``apply_status``), status after status, including duplicates, illegal
moves, new attempts, command answers, amounts, merchants and a history cut at its limit."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import orjson
from hypothesis import given
from hypothesis import strategies as st

from consumers.order_machine import HISTORY_LIMIT, apply_status, fold_json
from schemas.order_state import CommandRecord, OrderState, Verdict
from schemas.status import OrderStatus, Source, Status, status_of

STATUSES: tuple[Status, ...] = get_args(Status)
SOURCES: tuple[Source, ...] = get_args(Source)
T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)

details = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.sampled_from([1250, 0, True, "12"]),
        "currency": st.sampled_from(["usd", "EUR", "xx"]),
        "mid": st.sampled_from(["mid-a", "mid-b", ""]),
        "late": st.sampled_from([True, False, "yes"]),
    },
)
statuses = st.builds(
    lambda status, source, event, session, reason, detail, minutes, offset: status_of(
        "ORD-1",
        status,
        source,
        event,
        session_key=session,
        reason=reason,
        detail=detail,
        occurred_at=(T0 + timedelta(minutes=minutes, microseconds=minutes % 3)).astimezone(offset),
    ),
    st.sampled_from(STATUSES),
    st.sampled_from(SOURCES),
    st.sampled_from(["e1", "e2", "c1"]),
    st.sampled_from([None, "", "osk-1", "osk-2"]),
    st.sampled_from([None, "Flex said no"]),
    details,
    st.integers(0, 600),
    st.sampled_from([UTC, timezone(timedelta(hours=2))]),
)


def _comparable(state: OrderState) -> dict[str, Any]:
    return state.model_dump(exclude={"updated_at"})


def _both(statuses: list[OrderStatus], start: OrderState | None = None) -> tuple[OrderState, bytes | None]:
    """Every status through both paths from ``start``; asserts the verdicts agree on the way."""
    model, stored = start, None if start is None else start.model_dump_json(by_alias=True).encode()
    for status in statuses:
        model, verdict = apply_status(model, status)
        written, json_verdict, note = fold_json(stored, status)
        assert json_verdict == verdict
        if verdict == "duplicate":
            assert written is None
        else:
            assert written is not None and note == model.history[-1].note
            stored = written
    assert model is not None
    return model, stored


@given(st.lists(statuses, min_size=1, max_size=12))
def test_the_json_fold_and_the_model_fold_agree(sequence: list[OrderStatus]) -> None:
    model, stored = _both(sequence)
    assert stored is not None  # a new order's first status is never a duplicate
    assert _comparable(OrderState.model_validate_json(stored)) == _comparable(model)


def test_a_command_the_handler_recorded_is_a_duplicate_on_both_paths() -> None:
    record = CommandRecord(type="refund", status="REFUNDED", amount=100, answer={})
    start = OrderState(order_id="ORD-1", status="APPROVED", commands={"c1": record})
    refunded = status_of("ORD-1", "REFUNDED", "command", "c1")
    model, stored = _both([refunded], start)
    assert model == start and stored == start.model_dump_json(by_alias=True).encode()


def test_the_history_is_cut_at_its_limit_on_both_paths() -> None:
    confirmations = [
        status_of("ORD-1", "APPROVED", "webhook", f"w{i}", occurred_at=T0) for i in range(HISTORY_LIMIT + 5)
    ]
    model, stored = _both(confirmations)
    folded = OrderState.model_validate_json(stored or b"")
    assert len(folded.history) == len(model.history) == HISTORY_LIMIT
    assert _comparable(folded) == _comparable(model)


def test_a_stored_state_without_the_newer_fields_still_folds() -> None:
    older = b'{"orderId":"ORD-1","status":"SUBMITTED","history":[]}'  # written before mid, flags …
    approved = status_of("ORD-1", "APPROVED", "webhook", "w1", detail={"mid": "mid-a"})
    written, verdict, _ = fold_json(older, approved)
    expected: Verdict = "applied"
    state = OrderState.model_validate_json(written or b"")
    assert verdict == expected and state.status == "APPROVED" and state.mid == "mid-a"


def test_a_folded_order_is_held_in_about_the_size_of_its_json() -> None:
    """The order table holds every order's JSON for as long as the worker runs: bytes of their own
    size, not orjson's buffer (at least 4 KB each; 4,208 bytes an order here before the copy)."""
    sources: tuple[Source, ...] = ("evaluate", "webhook")  # an answer, then its webhook
    statuses = [
        status_of(f"ORD-{i:06d}", "APPROVED", source, f"E{i}-{source}", session_key=f"sk-{i}")
        for i in range(2000)
        for source in sources
    ]
    table: dict[str, bytes] = {}
    tracemalloc.start()
    try:
        for status in statuses:
            written, _, _ = fold_json(table.get(status.order_id), status)
            if written is not None:
                table[status.order_id] = written
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    json_bytes = sum(map(len, table.values()))
    assert len(table) == 2000
    per_order, json_per_order = held / len(table), json_bytes / len(table)
    assert held < 1.5 * json_bytes, f"{per_order:.0f} bytes an order for {json_per_order:.0f} of JSON"


def test_an_answer_marked_late_is_recorded_but_neither_applied_nor_flagged() -> None:
    """Flex's answer about Flex order s1 published after the order's webhook moved s1 on (the bridge
    marks it ``detail.late``): verdict ``late`` on both paths, the order stays APPROVED, unflagged, its
    age unchanged. The same answer unmarked is an illegal move, flagged."""
    approved, _ = apply_status(None, status_of("ORD-1", "APPROVED", "webhook", "w1", session_key="s1"))
    approved = approved.model_copy(update={"updated_at": T0})
    late = status_of("ORD-1", "CAPTUREREQUIRED", "evaluate", "e1", session_key="s1", detail={"late": True})
    model, stored = _both([late], approved)
    assert model.status == "APPROVED" and not model.flagged and model.flags == ()
    assert model.updated_at == T0 and model.history[-1].verdict == "late"
    assert model.history[-1].note == "late evaluate answer CAPTUREREQUIRED after APPROVED; not applied"
    assert stored is not None and OrderState.model_validate_json(stored).updated_at == T0
    unmarked = late.model_copy(update={"detail": {}})
    model, verdict = apply_status(approved, unmarked)
    assert verdict == "illegal" and model.flagged and model.status == "APPROVED"
    legal = status_of("ORD-1", "REFUNDED", "webhook", "w2", session_key="s1", detail={"late": True})
    assert apply_status(approved, legal)[1] == "applied"  # a move the machine takes is applied, marked or not


def test_an_entry_another_release_wrote_folds_on_both_paths_and_is_kept() -> None:
    """A history entry with a verdict and a source this release does not know (a newer release's,
    read during a rolling deploy): the order folds as usual on both paths, the entry kept as given."""
    stored = (
        b'{"orderId":"ORD-1","status":"CAPTUREREQUIRED","orderSessionKey":"s1","history":[{"at":'
        b'"2026-01-01T10:00:00Z","status":"CAPTUREREQUIRED","source":"oracle","eventId":"x1","verdict":"someday"}]}'
    )
    start = OrderState.model_validate_json(stored)
    model, written = _both([status_of("ORD-1", "APPROVED", "webhook", "w1", session_key="s1")], start)
    assert model.status == "APPROVED" and [h.verdict for h in model.history] == ["someday", "applied"]
    kept = {**orjson.loads(stored)["history"][0], "note": None}  # as the model writes it
    assert written is not None and orjson.loads(written)["history"][0] == kept
    assert _comparable(OrderState.model_validate_json(written)) == _comparable(model)
