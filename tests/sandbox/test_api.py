"""The sandbox's Flex endpoints over real HTTP: auth, outcome rules, validation, idempotency, orders."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from sandbox import DEV_APP_KEY, DEV_APP_SECRET, RunningSandbox, SandboxConfig, start_sandbox
from sandbox.samples import evaluate_body, tokenize_body, transmit_body

pytestmark = pytest.mark.integration

CREDENTIALS = {"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET}
TRACE_ID = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as http:
        yield http


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    answer = await client.post("oauth2/token", json=CREDENTIALS)
    return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def evaluate(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return await client.post("evaluate", json=body, headers=auth)


async def sandbox_orders(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{sandbox.base_url}/_sandbox/orders")
    orders: list[dict[str, Any]] = answer.json()["orders"]
    return orders


def pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: pascal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [pascal(item) for item in value]
    return value


# --- token flow -------------------------------------------------------------------------------


async def test_token_shape_and_any_key_casing(client: httpx.AsyncClient) -> None:
    before_ms = time.time() * 1000
    answer = await client.post("oauth2/token", json={"appkey": DEV_APP_KEY, "APPSECRET": DEV_APP_SECRET})
    assert answer.status_code == 200
    body = answer.json()
    assert body["accessToken"].count(".") == 2
    assert body["success"] is True and body["errors"] == [] and body["customProperties"] == {}
    assert before_ms + 590_000 <= body["expires"] <= time.time() * 1000 + 601_000
    assert {"refreshToken", "id", "session", "daysToEnforceMFA", "skipAvailable", "statusCode"} <= body.keys()


async def test_wrong_credentials_400(client: httpx.AsyncClient) -> None:
    answer = await client.post("oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": "nope"})
    assert answer.status_code == 400
    assert answer.json()["success"] is False
    missing = await client.post("oauth2/token", json={"AppKey": DEV_APP_KEY})
    assert missing.status_code == 400
    assert missing.json()["AppSecret"] == ["The AppSecret field is required."]


async def test_bearer_required(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = evaluate_body()
    assert (await client.post("evaluate", json=body)).status_code == 401
    bad = await client.post("evaluate", json=body, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert "invalid_token" in bad.headers["WWW-Authenticate"]
    lower = {"Authorization": auth["Authorization"].replace("Bearer", "bearer")}
    assert (await client.post("evaluate", json=body, headers=lower)).status_code == 200


async def test_token_expires_after_ttl() -> None:
    running = await start_sandbox(SandboxConfig(token_ttl_seconds=1))
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
            token = (await http.post("oauth2/token", json=CREDENTIALS)).json()
            assert token["expires"] - time.time() * 1000 <= 1000
            headers = {"Authorization": f"Bearer {token['accessToken']}"}
            assert (await http.get("orders", headers=headers)).status_code == 200

            async def rejected() -> bool:
                return (await http.get("orders", headers=headers)).status_code == 401

            await eventually(rejected)
            answer = await http.get("orders", headers=headers)
            assert "expired" in answer.headers["WWW-Authenticate"]
    finally:
        await running.close()


async def test_tokenize_without_bearer(client: httpx.AsyncClient) -> None:
    answer = await client.post("tokenize", params={"mid": "m", "environment": "t"}, json=tokenize_body())
    assert answer.status_code == 200
    method = answer.json()["transaction"]["payment_method"]
    assert method["token"] and method["last_four_digits"] == "1111"
    assert method["first_six_digits"].startswith("411111")
    no_env = await client.post("tokenize", params={"mid": "m"}, json=tokenize_body())
    assert no_env.status_code == 400 and "environment" in no_env.json()


# --- outcome rules ------------------------------------------------------------------------------

RULE_CASES = [
    ("challenge-phone", {"phone": "+99.2001a"}, "CHALLENGE"),
    ("challenge-no-cvv", {"phone": "+99.2001b", "cvv": None}, "CHALLENGE"),
    (
        "capture-required",
        {"transaction_type": "Authorization", "phone": "998888", "card_last4": "3184"},
        "CAPTUREREQUIRED",
    ),
    ("cit-no-phone-no-cvv", {"phone": None, "cvv": None}, "DECLINED"),
    (
        "managed-mit",
        {"is_mit": True, "expiry_date_utc": "2030-05-01T00:00:00Z", "card_last4": "3184"},
        "SUBMITTED",
    ),
    ("sync-mit", {"is_mit": True, "card_last4": "3184"}, "APPROVED"),
    ("cit-approved-card", {"card_last4": "5851"}, "APPROVED"),
    ("cit-other-card", {"card_last4": "2220"}, "DECLINED"),
]


@pytest.mark.parametrize(("case", "knobs", "expected"), RULE_CASES, ids=[case[0] for case in RULE_CASES])
async def test_default_outcome_rules(
    client: httpx.AsyncClient, auth: dict[str, str], case: str, knobs: dict[str, Any], expected: str
) -> None:
    answer = await evaluate(client, auth, evaluate_body(**knobs))
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == expected
    assert body["orderId"] == body["orderSessionKey"]
    assert body["result"] == "Success" and body["success"] is True


@pytest.mark.parametrize(
    ("number", "expected"), [("4000002760003184", "APPROVED"), ("4000300011112220", "DECLINED")]
)
async def test_tokenized_card_decides_cit(
    client: httpx.AsyncClient, auth: dict[str, str], number: str, expected: str
) -> None:
    vaulted = await client.post(
        "tokenize", params={"mid": "m", "environment": "t"}, json=tokenize_body(number), headers=auth
    )
    token = vaulted.json()["transaction"]["payment_method"]["token"]
    body = evaluate_body(card_last4=None, card_token=token)
    assert (await evaluate(client, auth, body)).json()["status"] == expected


async def test_pascal_case_request_is_bound(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = pascal(evaluate_body(phone="+99.2001a"))
    assert "IdempotencyKey" in body and "ResponseCode" in body["Transaction"]
    answer = await evaluate(client, auth, body)
    assert answer.status_code == 200
    assert answer.json()["status"] == "CHALLENGE"


async def test_star_json_content_type_and_415(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    content = httpx.Response(200, json=evaluate_body()).content
    star_type = {**auth, "Content-Type": "application/*+json"}
    star = await client.post("evaluate", content=content, headers=star_type)
    assert star.status_code == 200
    plain = await client.post("evaluate", content=content, headers={**auth, "Content-Type": "text/plain"})
    assert plain.status_code == 415


# --- validation ---------------------------------------------------------------------------------


async def test_evaluate_missing_fields_map(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: RunningSandbox
) -> None:
    body = {"isDeclined": True, "idempotencyKey": "k-1", "transaction": {"amount": 1999, "currency": "USD"}}
    answer = await evaluate(client, auth, body)
    assert answer.status_code == 400
    errors = answer.json()
    assert TRACE_ID.match(errors.pop("TraceId")[0])
    assert errors == {
        "OrderId": ["The OrderId field is required."],
        "Transaction.Id": ["The Id field is required."],
        "Transaction.ResponseCode": ["The ResponseCode field is required."],
        "Transaction.AvsResultCode": ["The AvsResultCode field is required."],
        "Transaction.CvvResultCode": ["The CvvResultCode field is required."],
        "Transaction.CavvResultCode": ["The CavvResultCode field is required."],
        "Transaction.ResponseCodeSource": ["The ResponseCodeSource field is required."],
    }
    assert await sandbox_orders(sandbox) == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"idempotencyKey": None}, "IdempotencyKey", "The IdempotencyKey field is required."),
        ({"expiryDateUtc": "next tuesday"}, "ExpiryDateUtc", "The field ExpiryDateUtc is invalid."),
        ({"amount": 10}, "Transaction.Amount", "The field Amount must be between 11 and 19999."),
        ({"amount": 20000}, "Transaction.Amount", "The field Amount must be between 11 and 19999."),
        ({"isMIT": "yes"}, "IsMIT", "The field IsMIT is invalid."),
    ],
)
async def test_evaluate_field_errors(
    client: httpx.AsyncClient, auth: dict[str, str], change: dict[str, Any], field: str, message: str
) -> None:
    body = evaluate_body()
    for key, value in change.items():
        target = body["transaction"] if key == "amount" else body
        target[key] = value
    answer = await evaluate(client, auth, body)
    assert answer.status_code == 400
    errors = answer.json()
    assert errors[field] == [message]
    assert set(errors) == {"TraceId", field}


async def test_numeric_string_amount_accepted(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = evaluate_body()
    body["transaction"]["amount"] = "1999"
    assert (await evaluate(client, auth, body)).status_code == 200


async def test_transmit(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    answer = await client.post("transmit", json=transmit_body(), headers=auth)
    assert answer.status_code == 200
    assert answer.json()["result"] == "success" and answer.json()["transmitId"]
    missing = await client.post("transmit", json={"orderId": "o"}, headers=auth)
    assert missing.status_code == 400
    assert {"IsDeclined", "Transaction", "Payer", "PaymentMethod"} <= set(missing.json())


# --- idempotency ----------------------------------------------------------------------------------


async def test_same_key_same_body_replays(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: RunningSandbox
) -> None:
    body = evaluate_body(is_mit=True, expiry_date_utc="2030-01-01T00:00:00Z")
    first = await evaluate(client, auth, body)
    reordered = dict(reversed(list(body.items())))
    second = await evaluate(client, auth, pascal(reordered))
    assert second.status_code == 200
    assert second.json() == first.json()
    assert len(await sandbox_orders(sandbox)) == 1
    journal = (await client.get(f"{sandbox.base_url}/_sandbox/requests?path=/v1/evaluate")).json()["requests"]
    assert [entry["replayed"] for entry in journal] == [False, True]


async def test_same_key_other_body_409(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: RunningSandbox
) -> None:
    body = evaluate_body()
    assert (await evaluate(client, auth, body)).status_code == 200
    body["transaction"]["amount"] = 1500
    conflict = await evaluate(client, auth, body)
    assert conflict.status_code == 409
    assert conflict.json()["success"] is False
    assert len(await sandbox_orders(sandbox)) == 1


async def test_sync_mit_retry_keeps_one_order(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: RunningSandbox
) -> None:
    first = await evaluate(client, auth, evaluate_body(order_id="SUB-1", is_mit=True))
    again = await evaluate(client, auth, evaluate_body(order_id="SUB-1", is_mit=True))
    assert again.json()["orderSessionKey"] == first.json()["orderSessionKey"]
    orders = await sandbox_orders(sandbox)
    assert len(orders) == 1
    assert [entry["action"] for entry in orders[0]["history"]] == ["evaluate", "evaluate-retry"]
