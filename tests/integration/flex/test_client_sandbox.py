"""The real FlexClient against the real sandbox over real HTTP: tokens, outcomes, faults, order life cycle.

Every test starts its own sandbox on a free port and inspects it through ``/_sandbox/...``. The only
white-box access is ``sandbox.state.faults`` from inside the client's synchronous ``on_retry`` hook, to
switch a fault off at an exact point of a retry sequence.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from consumers.flex.client import (
    FlexAuthFailed,
    FlexClient,
    FlexConflict,
    FlexError,
    FlexNotFound,
    FlexRejected,
    FlexUnavailable,
)
from core.settings import FlexSettings
from sandbox import (
    DEV_APP_KEY,
    DEV_APP_SECRET,
    DEV_MID,
    FaultConfig,
    RunningSandbox,
    SandboxConfig,
    start_sandbox,
)
from sandbox.samples import evaluate_body, tokenize_body, transmit_body

pytestmark = pytest.mark.integration

EVALUATE = "/v1/evaluate"
TOKEN = "/v1/oauth2/token"
DROPPED = {"connection-dropped", "network-error"}  # EOF or reset, depending on timing
FLEX_ERRORS = {500, 503, 429}


# --- fixtures and helpers ----------------------------------------------------------------------------


@pytest.fixture
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[RunningSandbox]:
    """A fresh sandbox on a free port; indirect parametrisation passes SandboxConfig fields."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    running = await start_sandbox(SandboxConfig(port=0, **overrides))
    try:
        yield running
    finally:
        await running.close()


class Admin:
    """The sandbox's inspection and control API (``/_sandbox/...``) over HTTP."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def journal(self, path: str | None = None) -> list[dict[str, Any]]:
        params = {"path": path} if path else None
        response = await self.http.get("requests", params=params)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["requests"]
        return entries

    async def orders(self, order_id: str | None = None) -> list[dict[str, Any]]:
        params = {"orderId": order_id} if order_id else None
        response = await self.http.get("orders", params=params)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["orders"]
        return found

    async def order(self, order_session_key: str) -> dict[str, Any]:
        (found,) = [o for o in await self.orders() if o["orderSessionKey"] == order_session_key]
        return found

    async def faults(self, **config: Any) -> None:
        response = await self.http.post("faults", json=config)
        assert response.status_code == 200, response.text

    async def clear_faults(self) -> None:
        (await self.http.delete("faults")).raise_for_status()

    async def set_status(self, order_session_key: str, status: str) -> None:
        response = await self.http.post(f"orders/{order_session_key}/status", json={"status": status})
        response.raise_for_status()


@pytest.fixture
async def admin(sandbox: RunningSandbox) -> AsyncIterator[Admin]:
    async with httpx.AsyncClient(base_url=f"{sandbox.base_url}/_sandbox/", timeout=10) as http:
        yield Admin(http)


def flex_settings(sandbox: RunningSandbox, **overrides: Any) -> FlexSettings:
    values: dict[str, Any] = {
        "base_url": sandbox.url,
        "app_key": SecretStr(DEV_APP_KEY),
        "app_secret": SecretStr(DEV_APP_SECRET),
        "mid": DEV_MID,
        "tokenization_key": SecretStr("sandbox-tokenization-key"),
        "deadline_seconds": 20.0,
        "backoff_base_seconds": 0.05,
        "backoff_max_seconds": 0.5,
        "timeout_seconds": 5.0,
    }
    return FlexSettings(**(values | overrides))


MakeClient = Callable[..., FlexClient]


@pytest.fixture
async def make_client(sandbox: RunningSandbox) -> AsyncIterator[MakeClient]:
    """``make_client(on_call=..., deadline_seconds=...)``: FlexClient kwargs and FlexSettings overrides."""
    made: list[FlexClient] = []
    client_kwargs = {"clock", "wall_clock", "sleep", "rng", "on_call", "on_retry"}

    def make(**overrides: Any) -> FlexClient:
        kwargs = {k: overrides.pop(k) for k in list(overrides) if k in client_kwargs}
        client = FlexClient(flex_settings(sandbox, **overrides), **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def flex(make_client: MakeClient) -> FlexClient:
    return make_client()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll ``check`` until it holds (no fixed sleeps as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)


def at(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["at"]).timestamp()


def by_key(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        grouped[entry["idempotencyKey"]].append(entry)
    return grouped


def key() -> str:
    return str(uuid.uuid4())


def authorization(**kwargs: Any) -> dict[str, Any]:
    """An /evaluate body the default rules answer CAPTUREREQUIRED (flex-api.md §6)."""
    return evaluate_body(transaction_type="AUTHORIZATION", phone="998888", **kwargs)


# --- 1. tokens ---------------------------------------------------------------------------------------


async def test_one_token_serves_50_concurrent_calls(flex: FlexClient, admin: Admin) -> None:
    bodies = [evaluate_body() for _ in range(50)]
    answers = await asyncio.gather(*(flex.evaluate(body) for body in bodies))

    assert len({a.order_session_key for a in answers}) == 50
    assert all(a.status == "APPROVED" for a in answers)
    tokens = await admin.journal(TOKEN)
    assert [e["status"] for e in tokens] == [200]
    assert flex.token_fetches == 1
    evaluations = await admin.journal(EVALUATE)
    assert sorted(e["idempotencyKey"] for e in evaluations) == sorted(b["idempotencyKey"] for b in bodies)
    assert {e["status"] for e in evaluations} == {200}  # none was refused for its bearer
    assert len(await admin.orders()) == 50


@pytest.mark.parametrize("sandbox", [{"token_ttl_seconds": 2}], indirect=True)
async def test_calls_spanning_token_expiry_all_succeed(make_client: MakeClient, admin: Admin) -> None:
    flex = make_client(token_refresh_margin_seconds=0)
    first_token = await flex.ensure_token()
    answers = []
    started = time.monotonic()
    while time.monotonic() - started < 2.6:  # the TTL is the point here: keep calling across the expiry
        answers.extend(await asyncio.gather(*(flex.evaluate(evaluate_body()) for _ in range(3))))

    assert all(a.order_session_key and a.status == "APPROVED" for a in answers)
    assert await flex.ensure_token() != first_token
    tokens = await admin.journal(TOKEN)
    assert len(tokens) >= 2 and {e["status"] for e in tokens} == {200}
    assert flex.token_fetches == len(tokens)
    evaluations = by_key(await admin.journal(EVALUATE))
    assert len(evaluations) == len(answers)
    for entries in evaluations.values():
        # a call racing the expiry may meet one 401, then it must go through with a fresh token
        assert [e["status"] for e in entries] in ([200], [401, 200])
    assert len(await admin.orders()) == len(answers)


@pytest.mark.parametrize("sandbox", [{"token_ttl_seconds": 1}], indirect=True)
async def test_token_expired_on_the_server_is_refreshed_once_after_401(
    sandbox: RunningSandbox, make_client: MakeClient, admin: Admin
) -> None:
    # A wall clock an hour slow makes the client believe the token lives an hour: only a 401 tells it.
    flex = make_client(wall_clock=lambda: time.time() - 3600)
    await flex.evaluate(evaluate_body())
    token = await flex.ensure_token()

    async def expired() -> bool:
        response = await admin.http.post(
            f"{sandbox.url}outcome",
            json={"orderSessionKey": "x"},
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code == 401

    await eventually(expired, 3.0, "the sandbox to expire the token")
    since = (await admin.journal())[-1]["seq"]
    body = evaluate_body()
    answer = await flex.evaluate(body)

    assert answer.status == "APPROVED"
    later = [e for e in await admin.journal() if e["seq"] > since]
    assert [(e["path"], e["status"]) for e in later] == [(EVALUATE, 401), (TOKEN, 200), (EVALUATE, 200)]
    assert {later[0]["idempotencyKey"], later[2]["idempotencyKey"]} == {body["idempotencyKey"]}
    assert flex.token_fetches == 2


async def test_wrong_credentials_raise_auth_failed(make_client: MakeClient, admin: Admin) -> None:
    flex = make_client(app_secret=SecretStr("not-the-secret"))
    with pytest.raises(FlexAuthFailed) as info:
        await flex.evaluate(evaluate_body())

    error = info.value
    assert error.status_code == 400
    assert error.retriable is False
    assert error.endpoint == "POST /v1/oauth2/token"
    assert "not-the-secret" not in str(error)
    journal = await admin.journal()
    assert [(e["path"], e["status"]) for e in journal] == [(TOKEN, 400)]  # no retry, no API call
    assert journal[0]["body"]["AppSecret"] == "***"


# --- 2. evaluate -------------------------------------------------------------------------------------


OUTCOMES = [
    pytest.param({"phone": "+99.2001a"}, "CHALLENGE", 1, "cit-challenge-phone", id="challenge"),
    pytest.param(
        {"transaction_type": "Authorization", "phone": "998888"},
        "CAPTUREREQUIRED",
        5,
        "authorization-capture-required",
        id="capture-required",
    ),
    pytest.param({"phone": None, "cvv": None}, "DECLINED", 3, "cit-no-phone-no-cvv", id="declined-no-phone"),
    pytest.param({"card_last4": "2220"}, "DECLINED", 3, "cit-decline", id="declined-card"),
    pytest.param(
        {"is_mit": True, "expiry_date_utc": "2026-12-15T00:00:00Z"},
        "SUBMITTED",
        4,
        "managed-mit",
        id="managed-mit",
    ),
    pytest.param({"is_mit": True}, "APPROVED", 7, "mit-approve", id="mit"),
    pytest.param({}, "APPROVED", 7, "cit-approve-listed-card", id="listed-card"),
]


@pytest.mark.parametrize(("knobs", "status", "code", "rule"), OUTCOMES)
async def test_default_outcome_rules(
    flex: FlexClient, admin: Admin, knobs: dict[str, Any], status: str, code: int, rule: str
) -> None:
    body = evaluate_body(**knobs)
    answer = await flex.evaluate(body)

    assert answer.status == status
    assert answer.success is True and answer.result == "Success"
    assert answer.order_session_key and answer.order_id == answer.order_session_key
    order = await flex.get_order(answer.order_session_key)
    assert (order.id, order.status, order.status_label) == (answer.order_session_key, code, status)
    if "expiry_date_utc" in knobs:
        assert order.expiry_date == datetime.fromisoformat("2026-12-15T00:00:00+00:00")
    (recorded,) = await admin.orders(body["orderId"])
    assert (recorded["orderSessionKey"], recorded["status"], recorded["rule"]) == (
        answer.order_session_key,
        status,
        rule,
    )
    assert (await flex.outcome(answer.order_session_key)).status == status


@pytest.mark.parametrize(
    ("number", "status"), [("4111111111111111", "APPROVED"), ("4000300011112220", "DECLINED")]
)
async def test_tokenized_card_decides_the_outcome(
    flex: FlexClient, admin: Admin, number: str, status: str
) -> None:
    card = tokenize_body(number)["payment_method"]["credit_card"]
    token = await flex.tokenize(card, email="cure@example.com")
    answer = await flex.evaluate(evaluate_body(card_last4=None, card_token=token))

    assert answer.status == status
    (call,) = await admin.journal("/v1/tokenize")
    assert call["status"] == 200
    assert call["query"] == {"mid": DEV_MID, "environment": "sandbox-tokenization-key"}
    assert number not in str(call["body"])  # the journal masks the card number
    assert call["body"]["payment_method"]["credit_card"]["number"].endswith(number[-4:])


async def test_transmit_creates_no_order(flex: FlexClient, admin: Admin) -> None:
    answer = await flex.transmit(transmit_body())
    assert (answer.result, answer.success) == ("success", True)
    assert answer.transmit_id
    assert await admin.orders() == []


def _drop_response_code(body: dict[str, Any]) -> None:
    del body["transaction"]["responseCode"]


def _drop_order_id(body: dict[str, Any]) -> None:
    del body["orderId"]


def _tiny_amount(body: dict[str, Any]) -> None:
    body["transaction"]["amount"] = 5


def _mistyped_mit(body: dict[str, Any]) -> None:
    body["isMIT"] = "yes"


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (_drop_response_code, "Transaction.ResponseCode"),
        (_drop_order_id, "OrderId"),
        (_tiny_amount, "Transaction.Amount"),
        (_mistyped_mit, "IsMIT"),
    ],
)
async def test_invalid_evaluate_is_rejected_at_once(
    flex: FlexClient, admin: Admin, spoil: Callable[[dict[str, Any]], None], field: str
) -> None:
    body = evaluate_body()
    spoil(body)
    with pytest.raises(FlexRejected) as info:
        await flex.evaluate(body)

    error = info.value
    assert type(error) is FlexRejected
    assert error.status_code == 400
    assert error.retriable is False
    assert field in error.errors and "TraceId" in error.errors
    assert field in str(error) and error.endpoint == "POST /v1/evaluate"
    assert [e["status"] for e in await admin.journal(EVALUATE)] == [400]  # not retried
    assert await admin.orders() == []


async def test_same_key_same_body_replays_the_order(flex: FlexClient, admin: Admin) -> None:
    body = evaluate_body()
    first = await flex.evaluate(body)
    second = await flex.evaluate(dict(body))

    assert second.order_session_key == first.order_session_key
    assert second.status == first.status
    journal = await admin.journal(EVALUATE)
    assert [(e["status"], e["replayed"]) for e in journal] == [(200, False), (200, True)]
    assert len(await admin.orders()) == 1


async def test_same_key_different_body_conflicts(flex: FlexClient, admin: Admin) -> None:
    body = evaluate_body()
    first = await flex.evaluate(body)
    changed = {**body, "transaction": {**body["transaction"], "amount": 2999}}
    with pytest.raises(FlexConflict) as info:
        await flex.evaluate(changed)

    assert info.value.status_code == 409
    assert info.value.endpoint == "POST /v1/evaluate"
    (order,) = await admin.orders()
    assert (order["orderSessionKey"], order["amount"]) == (first.order_session_key, 1999)
    assert [e["status"] for e in await admin.journal(EVALUATE)] == [200, 409]


# --- 3. faults ---------------------------------------------------------------------------------------


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


async def _capture_required(flex: FlexClient) -> str:
    answer = await flex.evaluate(authorization())
    assert answer.status == "CAPTUREREQUIRED" and answer.order_session_key
    return answer.order_session_key


async def _approved(flex: FlexClient) -> str:
    answer = await flex.evaluate(evaluate_body())
    assert answer.status == "APPROVED" and answer.order_session_key
    return answer.order_session_key


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
    assert took < 2.5 and error.elapsed_seconds < 2.0
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

    await eventually(all_answered, 3.0, "the hung calls to finish on the sandbox")
    journal = await admin.journal(EVALUATE)
    assert {e["fault"] for e in journal} == {"timeout"} and {e["status"] for e in journal} == {200}
    assert sorted(e["replayed"] for e in journal) == [False] + [True] * (len(journal) - 1)
    assert len(await admin.orders(body["orderId"])) == 1


# --- 4. order life cycle -----------------------------------------------------------------------------


async def test_capture_the_authorised_amount(flex: FlexClient, admin: Admin) -> None:
    osk = await _capture_required(flex)
    idem = key()
    answer = await flex.capture(osk, 1999, "usd", idem)

    assert (answer.status, answer.capture_status, answer.failed) == ("SUCCESS", "SUCCESS", False)
    order = await flex.get_order(osk)
    assert (order.status, order.status_label) == (7, "APPROVED")
    recorded = await admin.order(osk)
    assert recorded["capturedAmount"] == 1999
    again = await flex.capture(osk, 1999, "USD", idem)  # same key, same request: replayed
    assert again.status == "SUCCESS"
    assert [e["replayed"] for e in await admin.journal("/v1/capture")] == [False, True]
    assert [h["action"] for h in (await admin.order(osk))["history"]] == ["evaluate", "capture"]


@pytest.mark.parametrize(("amount", "currency"), [(1000, "USD"), (1999, "EUR")])
async def test_capture_that_differs_from_the_authorisation_fails(
    flex: FlexClient, admin: Admin, amount: int, currency: str
) -> None:
    osk = await _capture_required(flex)
    with pytest.raises(FlexRejected) as info:
        await flex.capture(osk, amount, currency, key())

    error = info.value
    assert error.status_code == 200 and "CaptureFailed" in error.errors
    assert str(error).startswith("POST /v1/capture: FAILED: capture failed: ")
    assert "must equal the" in str(error)  # Flex's reason is in the message, not only in .errors
    assert (await flex.get_order(osk)).status_label == "CAPTUREREQUIRED"
    assert (await admin.order(osk))["capturedAmount"] == 0
    assert (await flex.capture(osk, 1999, "USD", key())).status == "SUCCESS"  # the right capture still works


async def test_capture_of_unknown_or_settled_order(flex: FlexClient) -> None:
    with pytest.raises(FlexNotFound) as info:
        await flex.capture(str(uuid.uuid4()), 1999, "USD", key())
    assert info.value.status_code == 404
    osk = await _approved(flex)
    with pytest.raises(FlexRejected, match="only CAPTUREREQUIRED"):
        await flex.capture(osk, 1999, "USD", key())


async def test_refund_in_cents_is_sent_in_dollars(flex: FlexClient, admin: Admin) -> None:
    osk = await _approved(flex)
    first = await flex.refund(osk, 1005, "partial")
    assert (first.status, first.failed) == ("SUCCESS", False) and first.transaction_id

    order = await admin.order(osk)
    assert (order["refundedAmount"], order["status"]) == (1005, "APPROVED")
    assert order["refunds"][0]["amount"] == 1005 and order["refunds"][0]["message"] == "partial"
    rest = await flex.refund(osk, 994)
    assert rest.transaction_id != first.transaction_id
    bodies = [e["body"] for e in await admin.journal(f"/v1/orders/{osk}/refund")]
    assert bodies == [{"amountToRefund": 10.05, "refundMessage": "partial"}, {"amountToRefund": 9.94}]
    details = await flex.get_order(osk)
    assert (details.status, details.status_label) == (6, "REFUNDED")
    assert (await admin.order(osk))["refundedAmount"] == 1999


async def test_refund_above_what_was_settled_is_rejected(flex: FlexClient, admin: Admin) -> None:
    osk = await _approved(flex)
    with pytest.raises(FlexRejected) as info:
        await flex.refund(osk, 2000)

    error = info.value
    assert error.status_code == 400 and error.retriable is False
    (message,) = error.errors["2001"]
    assert "Amount to refund (20.00) is greater than maximum refund amount in (19.99)" in message
    assert error.endpoint == f"POST /v1/orders/{osk}/refund"
    assert (await admin.order(osk))["refundedAmount"] == 0
    unsettled = await _capture_required(flex)
    with pytest.raises(FlexRejected, match=r"maximum refund amount in \(0\.00\)"):
        await flex.refund(unsettled, 100)
    with pytest.raises(FlexNotFound):
        await flex.refund(str(uuid.uuid4()), 100)


async def test_cancel_capture_required_order(flex: FlexClient, admin: Admin) -> None:
    osk = await _capture_required(flex)
    idem = key()
    answer = await flex.cancel(osk, idem)

    assert answer.errors == () and answer.success is None  # Flex answers an empty {}
    order = await flex.get_order(osk)
    assert (order.status, order.status_label) == (2, "CANCELLED")
    await flex.cancel(osk, idem)
    assert [e["replayed"] for e in await admin.journal(f"/v1/orders/{osk}/cancel")] == [False, True]
    assert [h["action"] for h in (await admin.order(osk))["history"]] == ["evaluate", "cancel"]
    with pytest.raises(FlexConflict):
        await flex.cancel(await _capture_required(flex), idem)  # the key belongs to another order


async def test_cancel_of_an_approved_cit_order_is_rejected(flex: FlexClient) -> None:
    osk = await _approved(flex)
    with pytest.raises(FlexRejected) as info:
        await flex.cancel(osk, key())
    assert info.value.status_code == 400 and "NotCancellable" in info.value.errors
    assert (await flex.get_order(osk)).status_label == "APPROVED"
    with pytest.raises(FlexNotFound):
        await flex.cancel(str(uuid.uuid4()), key())


async def test_external_cancel_by_merchant_order_id(flex: FlexClient, admin: Admin) -> None:
    merchant_id = f"ORD ü/{uuid.uuid4().hex[:6]}#?"  # space, non-ASCII, "/", "#", "?" must be escaped
    answer = await flex.evaluate(authorization(order_id=merchant_id))
    osk = answer.order_session_key or ""
    idem = key()
    await flex.external_cancel(merchant_id, idem)

    assert (await flex.get_order(osk)).status_label == "CANCELLED"
    (order,) = await admin.orders(merchant_id)
    assert order["orderSessionKey"] == osk and order["status"] == "CANCELLED"
    await flex.cancel(osk, idem)  # the same operation by the Flex id: collapses into the first
    assert (await admin.journal(f"/v1/orders/{osk}/cancel"))[0]["replayed"] is True
    with pytest.raises(FlexNotFound) as info:
        await flex.external_cancel(f"no-such-{uuid.uuid4().hex}", key())
    assert info.value.status_code == 404


async def test_unknown_order(flex: FlexClient) -> None:
    with pytest.raises(FlexNotFound) as info:
        await flex.get_order(str(uuid.uuid4()))
    assert info.value.status_code == 404 and info.value.endpoint.startswith("GET /v1/orders/")
    assert (await flex.outcome(str(uuid.uuid4()))).status == "NOTFOUND"


async def test_managed_mit_settled_later_is_reported(flex: FlexClient, admin: Admin) -> None:
    answer = await flex.evaluate(evaluate_body(is_mit=True, expiry_date_utc="2026-12-15T00:00:00Z"))
    osk = answer.order_session_key or ""
    assert (await flex.get_order(osk)).status_label == "SUBMITTED"
    await admin.set_status(osk, "APPROVED")
    assert (await flex.get_order(osk)).status == 7
    assert (await flex.outcome(osk)).status == "APPROVED"
    with pytest.raises(FlexRejected, match="cannot be cancelled"):
        await flex.cancel(osk, key())  # settled now: only SUBMITTED or CAPTUREREQUIRED MITs cancel


# --- 5. the on_call observer -------------------------------------------------------------------------


async def test_on_call_sees_every_attempt(
    sandbox: RunningSandbox, make_client: MakeClient, admin: Admin
) -> None:
    calls: list[tuple[str, int | str, float]] = []
    retries = 0

    def next_fault(endpoint: str, cause: int | str) -> None:
        nonlocal retries
        retries += 1
        faults = sandbox.state.faults
        if retries == 1:  # 503 (slow) → a dropped connection → no fault
            faults.configure(FaultConfig(drop_rate=1.0, paths=(EVALUATE,)))
        else:
            faults.clear()

    flex = make_client(on_call=lambda *call: calls.append(call), on_retry=next_fault)
    await flex.ensure_token()
    await admin.faults(rate=1.0, statuses=[503], latencyMs=150, paths=[EVALUATE])
    osk = (await flex.evaluate(evaluate_body())).order_session_key or ""
    await flex.get_order(osk)
    with pytest.raises(FlexNotFound):
        await flex.get_order(str(uuid.uuid4()))
    with pytest.raises(FlexError):
        await flex.capture(osk, 1999, "USD", key())

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
