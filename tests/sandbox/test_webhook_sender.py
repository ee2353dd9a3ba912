"""The sandbox's webhook sender over real HTTP: signing, triggers, retries with IsResent, inspection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from consumers.webhooks.signature import WebhookVerifier
from sandbox import (
    DEV_SUBSCRIBER_KEY,
    RunningSandbox,
    SandboxConfig,
    start_sandbox,
)
from sandbox.samples import evaluate_body
from sandbox.webhook_sender import EVENTS, sign_delivery
from tests.sandbox.support import posts_to, signed_in
from tests.support import wait_for

pytestmark = pytest.mark.integration


@dataclass
class Receiver:
    """A merchant endpoint: verifies each delivery with flexbridge's verifier, answers ``statuses``."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    received: list[dict[str, Any]] = field(default_factory=list)
    verifier: WebhookVerifier = field(default_factory=lambda: WebhookVerifier(DEV_SUBSCRIBER_KEY))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.verifier.verify(request.method, request.headers["Host"], request.headers, body)  # raises if bad
        self.received.append({"payload": orjson.loads(body), "contentType": request.content_type})
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    async with posts_to(rec.handle, "/webhooks/flex") as base:
        rec.url = f"{base}/webhooks/flex"
        yield rec


@pytest.fixture
async def sending(receiver: Receiver) -> AsyncIterator[RunningSandbox]:
    config = SandboxConfig(webhook_url=receiver.url, webhook_backoff_seconds=0.05, webhook_max_attempts=3)
    async with await start_sandbox(config) as running:
        yield running


@pytest.fixture
async def api(sending: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(sending, sending.base_url) as http:
        yield http


async def deliveries(api: httpx.AsyncClient, count: int, state: str = "delivered") -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = (await api.get("/_sandbox/webhooks")).json()["webhooks"]
        done = [d for d in found if d["state"] == state]
        return found if len(done) >= count else None

    return await wait_for(check, 10, f"{count} webhook(s) {state}")


async def evaluate(api: httpx.AsyncClient, **knobs: Any) -> dict[str, Any]:
    answer = await api.post("/v1/evaluate", json=evaluate_body(**knobs))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_signature_follows_the_documented_scheme() -> None:
    body = b'{"Event":"order.completed"}'
    headers = sign_delivery(
        body, DEV_SUBSCRIBER_KEY, "shop.example:8443", date="Mon, 20 Mar 2023 17:16:40 GMT", nonce="ab" * 16
    )
    verifier = WebhookVerifier(DEV_SUBSCRIBER_KEY, max_skew_seconds=0)
    assert verifier.verify("POST", "shop.example:8443", headers, body).key == "current"
    assert headers["x-fc-authorization"].startswith(
        "HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512&Signature="
    )


async def test_an_approved_order_sends_a_signed_order_completed(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    placed = await evaluate(api, order_id="ORD-WH-1", card_last4="1111")
    found = await deliveries(api, 1)
    assert [d["event"] for d in found] == ["order.completed"]
    payload = receiver.received[0]["payload"]
    assert payload["OrderId"] == placed["orderSessionKey"] and payload["ExternalOrderId"] == "ORD-WH-1"
    assert payload["IsResent"] is False and payload["IsTestMode"] is True and payload["ConfirmationId"]
    assert receiver.received[0]["contentType"] == "text/plain"  # Flex sends JSON as text
    assert found[0]["attempts"][0]["status"] == 200


async def test_every_order_change_fires_its_event(api: httpx.AsyncClient, receiver: Receiver) -> None:
    auth = await evaluate(
        api, transaction_type="AUTHORIZATION", phone="998888", card_last4="3184", amount=1500
    )
    key = auth["orderSessionKey"]
    capture = {
        "idempotencyKey": "5b0e5f5e-1111-4c2b-8f00-000000000001",
        "orderId": key,
        "amount": 1500,
        "currency": "USD",
    }
    assert (await api.post("/v1/capture", json=capture)).json()["status"] == "SUCCESS"
    assert (await api.post(f"/v1/orders/{key}/refund", json={"amountToRefund": 5})).status_code == 200
    mit = await evaluate(api, is_mit=True, expiry_date_utc="2030-05-01T00:00:00Z")  # SUBMITTED: no event
    assert (await api.post(f"/v1/orders/{mit['orderSessionKey']}/cancel", json={})).status_code == 200
    other = await evaluate(api, is_mit=True, expiry_date_utc="2030-05-01T00:00:00Z")
    await api.post(f"/_sandbox/orders/{other['orderSessionKey']}/status", json={"status": "EXPIRED"})
    declined = await evaluate(api, card_last4="0002", phone=None, cvv=None)  # DECLINED: no event
    assert declined["status"] == "DECLINED"
    found = await deliveries(api, 5)
    assert [d["event"] for d in found] == [
        "order.capturerequired",
        "order.completed",
        "order.refunded",
        "order.cancelled",
        "order.expired",
    ]
    assert found[2]["payload"]["EventData"] == {"Amount": 500, "Currency": "USD"}


async def test_a_refused_delivery_is_retried_as_resent(api: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.statuses = [503, 500]
    await evaluate(api, card_last4="1111")
    found = await deliveries(api, 1)
    assert [a["status"] for a in found[0]["attempts"]] == [503, 500, 200]
    assert [r["payload"]["IsResent"] for r in receiver.received] == [False, True, True]
    assert len({r["payload"]["TimeStamp"] for r in receiver.received}) == 1  # the same event, resent


async def test_delivery_gives_up_after_the_attempt_budget(api: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.statuses = [503, 503, 503]
    await evaluate(api, card_last4="1111")
    found = await deliveries(api, 1, state="failed")
    assert len(found[0]["attempts"]) == 3


async def test_every_event_can_be_sent_on_demand(api: httpx.AsyncClient, receiver: Receiver) -> None:
    placed = await evaluate(api, order_id="ORD-WH-2", is_mit=True, expiry_date_utc="2030-05-01T00:00:00Z")
    for event in EVENTS:
        target = (
            {"externalOrderId": "ORD-WH-2"}
            if event.startswith("order.")
            else {"orderSessionKey": placed["orderSessionKey"]}
        )
        if event.startswith("payout."):
            target = {}
        answer = await api.post("/_sandbox/webhooks", json={"event": event, **target, "eventData": {"n": 1}})
        assert answer.status_code == 202, answer.text
    await deliveries(api, len(EVENTS))
    assert sorted(r["payload"]["Event"] for r in receiver.received) == sorted(EVENTS)
    chargeback = next(
        r["payload"] for r in receiver.received if r["payload"]["Event"] == "payment.chargeback.received"
    )
    assert chargeback["OrderId"] == placed["orderSessionKey"] and chargeback["EventData"] == {"n": 1}
    assert (
        await api.post("/_sandbox/webhooks", json={"event": "order.bogus", "orderSessionKey": "x"})
    ).status_code == 400
    assert (
        await api.post("/_sandbox/webhooks", json={"event": "order.expired", "externalOrderId": "nope"})
    ).status_code == 404
    await api.post("/_sandbox/reset")
    assert (await api.get("/_sandbox/webhooks")).json() == {"webhooks": []}


async def test_without_a_url_nothing_is_sent(client: httpx.AsyncClient, sandbox: RunningSandbox) -> None:
    await client.post("evaluate", json=evaluate_body(card_last4="1111"))
    async with httpx.AsyncClient(base_url=sandbox.base_url) as admin:
        assert (await admin.get("/_sandbox/webhooks")).json() == {"webhooks": []}
        answer = await admin.post("/_sandbox/webhooks", json={"event": "payout.created"})
        assert answer.status_code == 409


async def test_deliveries_in_flight_are_bounded_and_the_api_stays_responsive() -> None:
    """A slow merchant endpoint and many webhooks: at most ``webhook_concurrency`` POSTs at once,
    the rest wait their turn, and the sandbox's API keeps answering meanwhile."""
    gate, in_flight, peak = asyncio.Event(), [0], [0]

    async def slow(request: web.Request) -> web.Response:
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        try:
            await gate.wait()
        finally:
            in_flight[0] -= 1
        return web.Response()

    async with posts_to(slow, "/webhooks/flex") as base:
        running = await start_sandbox(
            SandboxConfig(webhook_url=f"{base}/webhooks/flex", webhook_concurrency=3)
        )
        try:
            async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as admin:
                for _ in range(40):
                    sent = await admin.post("/_sandbox/webhooks", json={"event": "payout.created"})
                    assert sent.status_code == 202

                async def three_waiting() -> bool:
                    return in_flight[0] == 3

                await wait_for(three_waiting, 10, "three deliveries at the endpoint")
                # answered while they wait
                pending = (await admin.get("/_sandbox/webhooks")).json()["webhooks"]
                assert [d["state"] for d in pending].count("pending") == 40
                gate.set()
                await deliveries(admin, 40)
            assert peak[0] == 3
        finally:
            await running.close()
