"""The FlexClient's on_call observer against the sandbox: every attempt, its status and its duration."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

import pytest

from consumers.flex.client import FlexClient, FlexError, FlexNotFound
from sandbox import FaultConfig, RunningSandbox
from sandbox.samples import evaluate_body
from tests.integration.flex.support import DROPPED, EVALUATE, Admin, MakeClient, key

pytestmark = pytest.mark.integration


Call = tuple[str, int | str, float]


def slow_503_then_drop_then_through(sandbox: RunningSandbox) -> Callable[[str, int | str], None]:
    """An ``on_retry`` hook: after the first (slow 503) attempt a dropped connection, then no fault."""
    retries = 0

    def next_fault(endpoint: str, cause: int | str) -> None:
        nonlocal retries
        retries += 1
        faults = sandbox.state.faults
        if retries == 1:
            faults.configure(FaultConfig(drop_rate=1.0, paths=(EVALUATE,)))
        else:
            faults.clear()

    return next_fault


async def evaluate_look_up_and_capture(flex: FlexClient) -> None:
    """An evaluation, a lookup of it, a lookup of an unknown order, and a refused capture."""
    osk = (await flex.evaluate(evaluate_body())).order_session_key or ""
    await flex.get_order(osk)
    with pytest.raises(FlexNotFound):
        await flex.get_order(str(uuid.uuid4()))
    with pytest.raises(FlexError):
        await flex.capture(osk, 1999, "USD", key())


async def test_on_call_sees_every_attempt(
    sandbox: RunningSandbox, make_client: MakeClient, admin: Admin
) -> None:
    calls: list[Call] = []
    flex = make_client(
        on_call=lambda *call: calls.append(call), on_retry=slow_503_then_drop_then_through(sandbox)
    )
    await flex.ensure_token()
    await admin.faults(rate=1.0, statuses=[503], latencyMs=150, paths=[EVALUATE])
    await evaluate_look_up_and_capture(flex)

    endpoints = [endpoint for endpoint, _, _ in calls]
    assert endpoints == [
        "POST /v1/oauth2/token",
        "POST /v1/evaluate",
        "POST /v1/evaluate",
        "POST /v1/evaluate",
        "GET /v1/orders/{id}",
        "GET /v1/orders/{id}",
        "POST /v1/capture",
    ]
    statuses = [status for _, status, _ in calls]
    assert statuses[:2] == [200, 503] and statuses[2] in DROPPED and statuses[3:] == [200, 200, 404, 200]
    assert all(isinstance(seconds, float) and 0 <= seconds < 5 for _, _, seconds in calls)
    assert calls[1][2] >= 0.15  # the injected latency is inside the measured attempt
    journal = await admin.journal()
    assert len(journal) == len(calls)
    assert [e["status"] for e in journal] == [s if isinstance(s, int) else None for s in statuses]
    assert Counter(e["fault"] for e in journal) == Counter({None: 5, "error": 1, "drop": 1})
