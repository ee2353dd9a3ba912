"""The FlexClient's retries against the sandbox's faults: errors, lost answers, drops and timeouts."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from consumers.flex.client import FlexUnavailable
from consumers.flex.engine import MIN_ATTEMPT_SECONDS
from sandbox import RunningSandbox
from sandbox.samples import evaluate_body
from tests.integration.flex.support import (
    DROPPED,
    EVALUATE,
    FLEX_ERRORS,
    Admin,
    MakeClient,
    at,
    authorization,
    by_key,
    key,
)
from tests.support import wait_for

pytestmark = pytest.mark.integration


async def test_error_faults_are_retried_until_every_call_succeeds(
    make_client: MakeClient, admin: Admin
) -> None:
    retries: list[tuple[str, int | str]] = []
    flex = make_client(on_retry=lambda endpoint, cause: retries.append((endpoint, cause)))
    await flex.ensure_token()
    await admin.faults(rate=0.4, statuses=[500, 503, 429], retryAfterSeconds=1, paths=[EVALUATE], seed=7)
    bodies = [evaluate_body() for _ in range(30)]
    answers = await asyncio.gather(*(flex.evaluate(body) for body in bodies))

    assert all(a.status == "APPROVED" for a in answers)
    orders = await admin.orders()
    assert len(orders) == 30
    assert {o["orderSessionKey"] for o in orders} == {a.order_session_key for a in answers}
    journal = await admin.journal(EVALUATE)
    faulted = [e for e in journal if e["fault"] is not None]
    assert faulted, "the seeded faults never fired"
    assert {e["fault"] for e in faulted} == {"error"} and {e["status"] for e in faulted} <= FLEX_ERRORS
    assert len(retries) == len(faulted)
    assert {endpoint for endpoint, _ in retries} == {"POST /v1/evaluate"}
    for entries in by_key(journal).values():
        assert [e["status"] for e in entries if e["fault"] is None] == [200]
        for attempt, after in itertools.pairwise(entries):
            if attempt["status"] == 429:  # Retry-After: 1 was honoured
                assert at(after) - at(attempt) >= 0.95


async def test_answers_lost_after_the_effect_leave_one_order_per_key(
    make_client: MakeClient, admin: Admin
) -> None:
    flex = make_client()
    await flex.ensure_token()
    await admin.faults(afterEffectRate=0.5, paths=[EVALUATE], seed=3)
    bodies = [evaluate_body() for _ in range(20)]
    answers = await asyncio.gather(*(flex.evaluate(body) for body in bodies))

    for body, answer in zip(bodies, answers, strict=True):
        (order,) = await admin.orders(body["orderId"])
        assert order["orderSessionKey"] == answer.order_session_key
    journal = await admin.journal(EVALUATE)
    lost = [e for e in journal if e["fault"] in ("after-effect-error", "after-effect-drop")]
    assert lost, "the seeded after-effect faults never fired"
    for entries in by_key(journal).values():
        assert [e["replayed"] for e in entries] == [False] + [True] * (len(entries) - 1)
        assert entries[-1]["status"] == 200
    assert any(e["replayed"] and e["status"] == 200 for e in journal)


LOST_ANSWER_PATHS = {
    "evaluate": EVALUATE,
    "capture": "/v1/capture",
    "refund": "/v1/orders/*/refund",
    "cancel": "/v1/orders/*/cancel",
    "external-cancel": "/v1/orders/*/external-cancel",
}


@pytest.mark.parametrize("operation", list(LOST_ANSWER_PATHS))
async def test_retry_after_a_lost_answer_has_no_second_effect(
    sandbox: RunningSandbox, make_client: MakeClient, admin: Admin, operation: str
) -> None:
    retries: list[int | str] = []

    def heal(endpoint: str, cause: int | str) -> None:
        retries.append(cause)
        sandbox.state.faults.clear()  # the first answer is lost, the retry gets through

    flex = make_client(on_retry=heal)
    body = evaluate_body() if operation == "refund" else authorization()
    target = "" if operation == "evaluate" else (await flex.evaluate(body)).order_session_key or ""
    await admin.faults(afterEffectRate=1.0, paths=[LOST_ANSWER_PATHS[operation]])
    if operation == "evaluate":
        target = (await flex.evaluate(body)).order_session_key or ""
    elif operation == "capture":
        assert (await flex.capture(target, 1999, "USD", key())).status == "SUCCESS"
    elif operation == "refund":
        assert (await flex.refund(target, 700)).status == "SUCCESS"
    elif operation == "cancel":
        await flex.cancel(target, key())
    else:
        await flex.external_cancel(body["orderId"], key())

    assert len(retries) == 1 and (retries[0] == 503 or retries[0] in DROPPED)
    calls = [e for e in await admin.journal() if e["fault"] is not None or e["replayed"]]
    assert [(e["fault"] is not None, e["replayed"]) for e in calls] == [(True, False), (False, True)]
    assert calls[1]["status"] == 200
    assert [o["orderSessionKey"] for o in await admin.orders(body["orderId"])] == [target]
    order = await admin.order(target)
    effects = {"evaluate": [], "capture": ["capture"], "refund": ["refund"]}.get(operation, ["cancel"])
    assert [h["action"] for h in order["history"]] == ["evaluate", *effects]
    if operation == "refund":
        assert (order["refundedAmount"], order["status"]) == (700, "APPROVED")


@pytest.mark.parametrize(
    ("faults", "failures"),
    [
        pytest.param(
            {"rate": 1.0, "statuses": [500, 503, 429], "retryAfterSeconds": 1},
            {"500", "503", "429"},
            id="errors",
        ),
        pytest.param({"dropRate": 1.0}, DROPPED, id="drops"),
    ],
)
async def test_persistent_faults_end_in_unavailable(
    make_client: MakeClient, admin: Admin, faults: dict[str, Any], failures: set[str]
) -> None:
    calls: list[tuple[str, int | str, float]] = []
    flex = make_client(deadline_seconds=2.0, on_call=lambda *call: calls.append(call))
    await flex.ensure_token()
    await admin.faults(paths=[EVALUATE], **faults)
    started = time.monotonic()
    with pytest.raises(FlexUnavailable) as info:
        await flex.evaluate(evaluate_body())
    took = time.monotonic() - started

    error = info.value
    assert error.retriable is True and error.reason == "retries-exhausted"
    assert error.endpoint == "POST /v1/evaluate"
    assert str(error).startswith("POST /v1/evaluate: ") and "deadline 2 s" in str(error)
    assert error.last_failure in failures
    # the last retry began before the deadline; its attempt may end up to MIN_ATTEMPT_SECONDS past it
    assert took < 2.5 and error.elapsed_seconds < 2.0 + MIN_ATTEMPT_SECONDS
    journal = await admin.journal(EVALUATE)
    assert error.attempts == len(journal) >= 2
    assert {str(e["status"]) for e in journal} <= failures | {"None"}
    evaluate_calls = [c for c in calls if c[0] == "POST /v1/evaluate"]
    assert len(evaluate_calls) == error.attempts
    assert {str(status) for _, status, _ in evaluate_calls} <= failures
    assert await admin.orders() == []


async def test_timed_out_calls_still_take_effect_once(make_client: MakeClient, admin: Admin) -> None:
    flex = make_client(deadline_seconds=1.5, timeout_seconds=0.3)
    await flex.ensure_token()
    await admin.faults(timeoutRate=1.0, timeoutSeconds=0.8, paths=[EVALUATE])
    body = evaluate_body()
    with pytest.raises(FlexUnavailable) as info:
        await flex.evaluate(body)
    assert info.value.last_failure == "timeout" and info.value.status_code is None

    async def all_answered() -> bool:
        return len(await admin.journal(EVALUATE)) == info.value.attempts

    await wait_for(all_answered, 3.0, "the hung calls to finish on the sandbox", every=0.05)
    journal = await admin.journal(EVALUATE)
    assert {e["fault"] for e in journal} == {"timeout"} and {e["status"] for e in journal} == {200}
    assert sorted(e["replayed"] for e in journal) == [False] + [True] * (len(journal) - 1)
    assert len(await admin.orders(body["orderId"])) == 1
