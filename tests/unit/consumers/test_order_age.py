"""A command's REJECTED or FAILED answer is no news of its order: the order's ``updatedAt`` (its age
for reconciliation and retention) stays, on the order table's path (``fold_json``), on the models
(``apply_status``) and in the command agent's own record (``record_command``)."""

from __future__ import annotations

from datetime import UTC, datetime

from consumers.order_machine import apply_status, fold_json, record_command
from consumers.reconcile import stored_candidate
from schemas.order_state import CommandRecord, OrderState
from schemas.status import status_of

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def submitted() -> OrderState:
    state, _ = apply_status(None, status_of("ORD-1", "SUBMITTED", "evaluate", "e1", session_key="s1"))
    return state.model_copy(update={"updated_at": T0})


def test_a_rejected_command_answer_leaves_the_orders_age_alone() -> None:
    for value in ("REJECTED", "FAILED"):
        answer = status_of("ORD-1", value, "command", f"c-{value}", reason="no")
        model, verdict = apply_status(submitted(), answer)
        assert verdict == "answer" and model.updated_at == T0 and model.history[-1].status == value
        written, _, _ = fold_json(submitted().model_dump_json(by_alias=True).encode(), answer)
        assert written is not None and OrderState.model_validate_json(written).updated_at == T0
        candidate = stored_candidate(
            OrderState.model_validate_json(written).model_dump(mode="json", by_alias=True)
        )
        assert candidate is not None and candidate.last_news == T0.timestamp()


def test_the_command_agents_record_of_a_refusal_leaves_the_age_alone_and_a_success_is_news() -> None:
    rejected = status_of("ORD-1", "REJECTED", "command", "c1", reason="no")
    record = CommandRecord(type="cancel", status="REJECTED", answer={})
    assert record_command(submitted(), rejected, record, {}).updated_at == T0
    assert (
        record_command(submitted(), status_of("ORD-1", "FAILED", "command", "c2"), None, {}).updated_at == T0
    )
    cancelled = status_of("ORD-1", "CANCELLED", "command", "c3")
    done = CommandRecord(type="cancel", status="CANCELLED", answer={})
    assert record_command(submitted(), cancelled, done, {"status": "CANCELLED"}).updated_at > T0


def test_a_webhook_is_news() -> None:
    model, _ = apply_status(submitted(), status_of("ORD-1", "APPROVED", "webhook", "w1"))
    assert model.updated_at > T0
