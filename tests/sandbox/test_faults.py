"""The sandbox's inspection API and fault injection over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sandbox import DEV_APP_KEY, DEV_APP_SECRET, RunningSandbox, SandboxConfig, start_sandbox
from sandbox.samples import evaluate_body, tokenize_body

pytestmark = pytest.mark.integration

# A connection closed without an answer: EOF (usual) or a reset, depending on timing.
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)


@pytest.fixture
async def admin(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{sandbox.base_url}/_sandbox/", timeout=10) as http:
        yield http


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def journal(admin: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await admin.get("requests", params=params)).json()["requests"]
    return entries


async def orders(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await admin.get("orders")).json()["orders"]
    return found


# --- inspection -------------------------------------------------------------------------------------


async def test_health_and_webhooks(admin: httpx.AsyncClient) -> None:
    assert (await admin.get("health")).status_code == 200
    assert (await admin.get("webhooks")).json() == {"webhooks": []}


async def test_journal_records_calls(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    await client.post("tokenize", params={"mid": "m", "environment": "t"}, json=tokenize_body())
    body = evaluate_body(order_id="ORD-J")
    await client.post("evaluate", json=body)
    await client.post("evaluate", json={"orderId": "bad"})
    entries = await journal(admin)
    assert [(e["seq"], e["method"], e["path"], e["status"]) for e in entries] == [
        (1, "POST", "/v1/oauth2/token", 200),
        (2, "POST", "/v1/tokenize", 200),
        (3, "POST", "/v1/evaluate", 200),
        (4, "POST", "/v1/evaluate", 400),
    ]
    card = entries[1]["body"]["payment_method"]["credit_card"]
    assert (card["number"], card["verification_value"]) == ("411111******1111", "***")
    assert entries[1]["query"] == {"mid": "m", "environment": "t"}
    assert entries[2]["idempotencyKey"] == body["idempotencyKey"]
    assert entries[2]["body"]["orderId"] == "ORD-J" and entries[2]["fault"] is None
    assert all(isinstance(e["durationMs"], float) and e["durationMs"] > 0 for e in entries)
    assert [e["seq"] for e in await journal(admin, path="/v1/evaluate", since=3)] == [4]


async def test_orders_view(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    await client.post("evaluate", json=evaluate_body(order_id="ORD-V", amount=1500, is_mit=True))
    (view,) = await orders(admin)
    assert view["orderId"] == "ORD-V" and view["status"] == "APPROVED"
    assert (view["amount"], view["currency"], view["isMIT"]) == (1500, "USD", True)
    assert (view["capturedAmount"], view["refundedAmount"]) == (0, 0)
    assert view["rule"] == "mit-approve" and view["history"][0]["action"] == "evaluate"
    assert {"orderSessionKey", "mid", "transactionType", "createdAt"} <= view.keys()


async def test_settle_order_and_filter(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    seen: list[str] = []
    sandbox.state.orders.subscribe(lambda order: seen.append(order.status))
    body = evaluate_body(order_id="ORD-S", is_mit=True, expiry_date_utc="2030-01-01T00:00:00Z")
    key = (await client.post("evaluate", json=body)).json()["orderSessionKey"]
    await client.post("evaluate", json=evaluate_body(order_id="ORD-OTHER"))
    settled = await admin.post(f"orders/{key}/status", json={"status": "APPROVED", "detail": "rescued"})
    assert settled.status_code == 200 and settled.json()["status"] == "APPROVED"
    assert (await client.get(f"orders/{key}")).json()["statusName"] == "APPROVED"
    (view,) = await orders_for(admin, "ORD-S")
    assert [entry["action"] for entry in view["history"]] == ["evaluate", "sandbox-status"]
    assert seen == ["SUBMITTED", "APPROVED", "APPROVED"]
    assert (await admin.post(f"orders/{key}/status", json={"status": "DONE"})).status_code == 400
    assert (await admin.post("orders/nope/status", json={"status": "EXPIRED"})).status_code == 404


async def orders_for(admin: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await admin.get("orders", params={"orderId": order_id})).json()["orders"]
    return found


async def test_reset(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    body = evaluate_body()
    first = (await client.post("evaluate", json=body)).json()
    await admin.post("faults", json={"latencyMs": 1})
    assert (await admin.post("reset")).status_code == 200
    assert await orders(admin) == [] and await journal(admin) == []
    assert (await admin.get("faults")).json()["latencyMs"] == 0
    again = await client.post("evaluate", json=body)
    assert again.status_code == 200, "token still valid"
    assert again.json()["orderSessionKey"] != first["orderSessionKey"], "idempotency records cleared"


# --- rules ------------------------------------------------------------------------------------------


async def test_put_rules_then_restore(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    rules = [
        {"name": "big", "when": {"transaction.amount": {"in": [1234]}}, "status": "CHALLENGE"},
        {"name": "rest", "when": {}, "status": "SUBMITTED"},
    ]
    assert (await admin.put("rules", json={"rules": rules})).status_code == 200
    assert (await client.post("evaluate", json=evaluate_body(amount=1234))).json()["status"] == "CHALLENGE"
    assert (await client.post("evaluate", json=evaluate_body())).json()["status"] == "SUBMITTED"
    bad = await admin.put("rules", json=[{"name": "x", "when": {}, "status": "MAYBE"}])
    assert bad.status_code == 400
    await admin.delete("rules")
    assert (await client.post("evaluate", json=evaluate_body())).json()["status"] == "APPROVED"


async def test_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_bytes(orjson.dumps({"rules": [{"name": "all", "when": {}, "status": "CHALLENGE"}]}))
    running = await start_sandbox(SandboxConfig(rules_path=path))
    try:
        async with httpx.AsyncClient(base_url=running.url) as http:
            token = await http.post("oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET})
            headers = {"Authorization": f"Bearer {token.json()['accessToken']}"}
            answer = await http.post("evaluate", json=evaluate_body(), headers=headers)
            assert answer.json()["status"] == "CHALLENGE"
    finally:
        await running.close()


# --- faults -----------------------------------------------------------------------------------------


async def test_error_statuses_with_retry_after(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    config = {"rate": 1.0, "statuses": [429], "retryAfterSeconds": 7, "paths": ["/v1/evaluate"]}
    active = (await admin.post("faults", json=config)).json()
    assert (active["rate"], active["statuses"], active["dropRate"]) == (1.0, [429], 0.0)
    answer = await client.post("evaluate", json=evaluate_body())
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "7")
    assert (await client.post("transmit", json=evaluate_body())).status_code == 200, "path not listed"
    assert await orders(admin) == []
    entry = (await journal(admin, path="/v1/evaluate"))[0]
    assert (entry["status"], entry["fault"]) == (429, "error")


async def test_default_paths_spare_the_token_call(
    client: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await admin.post("faults", json={"rate": 1.0, "statuses": [503]})
    token = await client.post("oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET})
    assert token.status_code == 200
    assert (await client.get("orders")).status_code == 503
    await admin.delete("faults")
    assert (await client.get("orders")).status_code == 200


async def test_seed_makes_faults_repeatable(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    config = {"rate": 0.5, "statuses": [500, 502, 503], "seed": 42}
    runs = []
    for _ in range(2):
        await admin.post("faults", json=config)
        runs.append([(await client.get("orders")).status_code for _ in range(20)])
    assert runs[0] == runs[1]
    assert 200 in runs[0] and set(runs[0]) - {200}, "a mix of answers"


async def test_bad_fault_config(admin: httpx.AsyncClient) -> None:
    assert (await admin.post("faults", json={"rate": 0.7, "dropRate": 0.5})).status_code == 400
    assert (await admin.post("faults", json={"rates": 0.1})).status_code == 400
    assert (await admin.post("faults", json={"statuses": [200]})).status_code == 400


async def test_drop(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    await admin.post("faults", json={"dropRate": 1.0})
    with pytest.raises(DROPPED):
        await client.post("evaluate", json=evaluate_body())
    assert await orders(admin) == []
    entry = (await journal(admin, path="/v1/evaluate"))[0]
    assert (entry["status"], entry["fault"]) == (None, "drop")


async def _post_outcome(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    try:
        answer = await client.post("evaluate", json=body)
    except DROPPED:
        return "drop"
    assert answer.status_code == 503
    return "503"


async def test_after_effect_applies_then_idempotent_retry(
    client: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await admin.post("faults", json={"afterEffectRate": 1.0, "seed": 2})
    bodies: list[dict[str, Any]] = []
    seen: set[str] = set()
    while seen != {"503", "drop"}:
        assert len(bodies) < 10
        bodies.append(evaluate_body())
        seen.add(await _post_outcome(client, bodies[-1]))
    created = {o["orderId"]: o["orderSessionKey"] for o in await orders(admin)}
    assert set(created) == {body["orderId"] for body in bodies}, "every effect applied"
    await admin.delete("faults")
    for body in bodies:
        retry = await client.post("evaluate", json=body)
        assert retry.status_code == 200
        assert retry.json()["orderSessionKey"] == created[body["orderId"]]
    assert len(await orders(admin)) == len(bodies)
    entries = await journal(admin, path="/v1/evaluate")
    faults = {e["fault"] for e in entries[: len(bodies)]}
    assert faults == {"after-effect-error", "after-effect-drop"}
    assert all(e["replayed"] for e in entries[len(bodies) :])


async def test_timeout_hangs_then_applies(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    await admin.post("faults", json={"timeoutRate": 1.0, "timeoutSeconds": 0.5})
    with pytest.raises(httpx.ReadTimeout):
        await client.post("evaluate", json=evaluate_body(), timeout=0.1)

    async def applied() -> bool:
        return len(await orders(admin)) == 1

    await eventually(applied)
    entry = (await journal(admin, path="/v1/evaluate"))[0]
    assert entry["fault"] == "timeout"


async def test_close_cuts_a_hang_short(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    await admin.post("faults", json={"timeoutRate": 1.0, "timeoutSeconds": 60})
    with pytest.raises(httpx.ReadTimeout):
        await client.post("evaluate", json=evaluate_body(), timeout=0.2)
    started = time.monotonic()
    await sandbox.close()
    assert time.monotonic() - started < 5


async def test_latency(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    await admin.post("faults", json={"latencyMs": 200})
    started = time.monotonic()
    assert (await client.get("orders")).status_code == 200
    assert time.monotonic() - started >= 0.2
    # the injected wait is part of the call's service time (less a clock tick of the loop's timer)
    assert (await journal(admin, path="/v1/orders"))[-1]["durationMs"] >= 199
