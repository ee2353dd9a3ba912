"""POST /webhooks/flex end to end: a real worker process, the real broker over TCP, the sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from sandbox import SandboxConfig, start_sandbox
from sandbox.samples import evaluate_body
from streams.local.stack import metric_total
from tests.conftest import Stack, Worker
from tests.support import DEV_APP_KEY, DEV_APP_SECRET, unique, wait_for
from tests.webhook_support import (
    CURRENT_KEY,
    KEYS_ENV,
    PREVIOUS_KEY,
    STRANGER_KEY,
    dedupe_header,
    deliver,
    payload,
    published,
    send,
    signed,
)

pytestmark = pytest.mark.integration


async def test_a_webhook_delivered_three_times_is_published_once(hooks: tuple[Stack, Worker]) -> None:
    stack, worker = hooks
    order = unique("ORD-W3")
    first = payload(order)
    answers = [await send(worker, first)]
    answers += [await send(worker, payload(order, resent=True)) for _ in range(2)]
    assert answers == [(200, "accepted"), (200, "duplicate"), (200, "duplicate")]
    raw = await published(stack, "webhooks", order)
    assert [r.value for r in raw] == [first]  # the body, unchanged, once
    assert dedupe_header(raw[0]) == f"order.completed:fx-{order}"
    statuses = [orjson.loads(r.value) for r in await published(stack, "status", order)]
    assert len(statuses) == 1
    status = statuses[0]
    assert (status["status"], status["source"], status["orderSessionKey"]) == (
        "APPROVED",
        "webhook",
        f"fx-{order}",
    )
    assert (
        status["eventId"] == f"order.completed:fx-{order}"
        and status["detail"]["webhookEvent"] == "order.completed"
    )


async def assert_bad_deliveries_are_refused(worker: Worker, refused: dict[str, str]) -> None:
    """One delivery per way to get it wrong, each for its own order id in ``refused``."""
    body = payload(refused["body"])
    headers = signed(worker, body)
    assert (
        await deliver(worker, body.replace(b"order.completed", b"order.refunded"), headers)
    ).status_code == 401

    body = payload(refused["header"])
    headers = signed(worker, body) | {"x-fc-nonce": "0" * 32}
    assert (await deliver(worker, body, headers)).status_code == 401

    body = payload(refused["key"])
    assert (await deliver(worker, body, signed(worker, body, STRANGER_KEY))).status_code == 401

    body = payload(refused["stale"])
    assert (await deliver(worker, body, signed(worker, body, age=900))).status_code == 401

    body = payload(refused["missing"])
    assert (await deliver(worker, body, {"Content-Type": "text/plain"})).status_code == 401

    bad = b'{"Event": ' + refused["bad"].encode()  # verified, but not JSON
    bad_headers = signed(worker, bad)
    answer = await deliver(worker, bad, bad_headers)
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["error"]
    again = await deliver(worker, bad, bad_headers)  # its nonce again, and it was never published
    assert again.status_code == 401 and "replayed-nonce" in again.json()["error"]


async def assert_a_resent_request_is_a_duplicate(worker: Worker) -> str:
    """The same signed request twice, nonce and all (sent again after its answer was lost): the
    second is answered as a duplicate of the first, published. Its order id."""
    resent = unique("ORD-resent")
    body = payload(resent)
    headers = signed(worker, body)
    assert (await deliver(worker, body, headers)).status_code == 200
    again = await deliver(worker, body, headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    return resent


async def test_refused_deliveries_publish_nothing(hooks: tuple[Stack, Worker]) -> None:
    stack, worker = hooks
    refused = {name: unique(f"ORD-{name}") for name in ("body", "header", "key", "stale", "missing", "bad")}
    await assert_bad_deliveries_are_refused(worker, refused)
    resent = await assert_a_resent_request_is_a_duplicate(worker)

    for name, order in refused.items():
        assert await published(stack, "webhooks", order) == [], name
        assert await published(stack, "status", order) == [], name
    assert len(await published(stack, "webhooks", resent)) == 1
    verifications = "flexbridge_webhook_verifications_total"
    for reason in ("content-hash", "signature", "stale-date", "missing-header", "replayed-nonce", "resent"):
        assert await metric_total(worker.url, verifications, result=reason) >= 1, reason
    assert await metric_total(worker.url, "flexbridge_webhook_deliveries_total", outcome="malformed") >= 1
    # every answered delivery is timed once (flexbridge_webhook_seconds), whatever its outcome
    answered = await metric_total(worker.url, "flexbridge_webhook_deliveries_total")
    assert await metric_total(worker.url, "flexbridge_webhook_seconds_count") == answered > 0


async def test_a_body_sent_as_json_or_as_text_is_accepted(hooks: tuple[Stack, Worker]) -> None:
    stack, worker = hooks
    as_json, as_text = unique("ORD-json"), unique("ORD-text")
    body = payload(as_json)
    answer = await deliver(worker, body, signed(worker, body) | {"Content-Type": "application/json"})
    assert answer.status_code == 200
    text = orjson.dumps(payload(as_text).decode())  # a JSON string holding the JSON
    assert (await deliver(worker, text, signed(worker, text))).status_code == 200
    assert [r.value for r in await published(stack, "webhooks", as_text)] == [text]
    assert len(await published(stack, "status", as_json)) == 1


async def test_key_rotation_accepts_the_previous_key_too(hooks: tuple[Stack, Worker]) -> None:
    stack, worker = hooks
    old, new = unique("ORD-old-key"), unique("ORD-new-key")
    assert await send(worker, payload(old, "challenge.passed"), PREVIOUS_KEY) == (200, "accepted")
    assert await send(worker, payload(new, "order.expired"), CURRENT_KEY) == (200, "accepted")
    assert len(await published(stack, "webhooks", old)) == 1
    assert await published(stack, "status", old) == []  # challenge.* has no status: flex.webhooks only
    expired = [orjson.loads(r.value)["status"] for r in await published(stack, "status", new)]
    assert expired == ["EXPIRED"]


async def test_a_restarted_or_second_worker_knows_what_was_published(hooks: tuple[Stack, Worker]) -> None:
    stack, first = hooks
    early = unique("ORD-early")
    assert await send(first, payload(early)) == (200, "accepted")
    second = stack.worker(**KEYS_ENV)  # a new process: it knows only what flex.webhooks tells it
    try:
        second.process.wait_ready(second.url + "/ready", 90)
        assert await send(second, payload(early, resent=True)) == (200, "duplicate")

        async def remembered() -> int:
            async with httpx.AsyncClient(timeout=5) as http:
                keys: int = (await http.get(second.url + "/ready")).json()["webhook_dedupe_keys"]
            return keys

        before = await remembered()
        late = unique("ORD-late")
        assert await send(first, payload(late)) == (200, "accepted")

        async def grown() -> bool:
            return await remembered() > before

        await wait_for(grown, 15, "the second worker to read the new key")
        assert await send(second, payload(late, resent=True)) == (200, "duplicate")
        assert len(await published(stack, "webhooks", late)) == 1
        assert len(await published(stack, "status", late)) == 1
    finally:
        second.process.stop()


async def test_sandbox_webhooks_reach_the_topics(hooks: tuple[Stack, Worker]) -> None:
    stack, worker = hooks
    config = SandboxConfig(webhook_url=worker.url + "/webhooks/flex", subscriber_key=CURRENT_KEY)
    async with (
        await start_sandbox(config) as flex,
        httpx.AsyncClient(base_url=flex.base_url, timeout=10) as api,
    ):
        token = await api.post("/v1/oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET})
        api.headers["Authorization"] = f"Bearer {token.json()['accessToken']}"
        order = unique("ORD-sbx")
        body = evaluate_body(order_id=order, is_mit=True, expiry_date_utc="2030-05-01T00:00:00Z")
        key = (await api.post("/v1/evaluate", json=body)).json()["orderSessionKey"]
        await api.post(f"/_sandbox/orders/{key}/status", json={"status": "APPROVED"})  # Flex rescued it later
        sent = await api.post(
            "/_sandbox/webhooks", json={"event": "payment.chargeback.received", "orderSessionKey": key}
        )
        assert sent.status_code == 202

        async def statuses() -> list[str] | None:
            found = [orjson.loads(r.value)["status"] for r in await published(stack, "status", order)]
            return found if len(found) >= 2 else None

        assert sorted(await wait_for(statuses, 20, "both webhook statuses")) == ["APPROVED", "CHARGEBACK"]

        async def delivered() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = (await api.get("/_sandbox/webhooks")).json()["webhooks"]
            return found if all(d["state"] == "delivered" for d in found) else None

        deliveries = await wait_for(delivered, 10, "the sandbox to record both deliveries")
        assert [d["event"] for d in deliveries] == ["order.completed", "payment.chargeback.received"]
        assert all([a["status"] for a in d["attempts"]] == [200] for d in deliveries)
    assert len(await published(stack, "webhooks", order)) == 2
