"""Partial refunds end to end: the sandbox refunds one order three times and sends one
``order.refunded`` per refund; a real worker publishes each of them, on ``flex.webhooks`` and as
a ``REFUNDED`` status, and still drops a redelivery of any one of them."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from sandbox import SandboxConfig, start_sandbox
from sandbox.samples import evaluate_body
from tests.conftest import Stack, Worker
from tests.support import DEV_APP_KEY, DEV_APP_SECRET, unique, wait_for
from tests.webhook_support import CURRENT_KEY, dedupe_header, published, send

pytestmark = pytest.mark.integration

REFUNDS = ("1.00", "2.00", "119.81")  # dollars, as /refund takes them: 100 + 200 + 11981 cents


async def refunded_three_times(stack: Stack, api: httpx.AsyncClient, order: str) -> None:
    """Evaluate ``order``, have Flex approve it, then (once its APPROVED is published, so that no
    refund overtakes it) refund it in three parts, all of it."""
    token = await api.post("/v1/oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET})
    api.headers["Authorization"] = f"Bearer {token.json()['accessToken']}"
    body = evaluate_body(order_id=order, amount=12281, is_mit=True, expiry_date_utc="2030-05-01T00:00:00Z")
    key = (await api.post("/v1/evaluate", json=body)).json()["orderSessionKey"]
    await api.post(f"/_sandbox/orders/{key}/status", json={"status": "APPROVED"})

    async def approved() -> bool:
        return len(await published(stack, "status", order)) == 1

    await wait_for(approved, 20, "the order.completed webhook's APPROVED")
    for dollars in REFUNDS:
        answer = await api.post(f"/v1/orders/{key}/refund", json={"amountToRefund": dollars})
        assert answer.status_code == 200, answer.text


async def test_each_partial_refund_is_published_and_a_redelivery_is_not(hooks: tuple[Stack, Worker]) -> None:
    stack, worker = hooks
    config = SandboxConfig(webhook_url=worker.url + "/webhooks/flex", subscriber_key=CURRENT_KEY)
    order = unique("ORD-3ref")
    async with (
        await start_sandbox(config) as flex,
        httpx.AsyncClient(base_url=flex.base_url, timeout=10) as api,
    ):
        await refunded_three_times(stack, api, order)

        async def delivered() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = (await api.get("/_sandbox/webhooks")).json()["webhooks"]
            done = len(found) == 4 and all(d["state"] == "delivered" for d in found)
            return found if done else None

        deliveries = await wait_for(delivered, 20, "the sandbox to deliver all four webhooks")
    refunds = [d["payload"] for d in deliveries if d["event"] == "order.refunded"]
    assert sorted(p["EventData"]["Amount"] for p in refunds) == [100, 200, 11981]

    raw = [r for r in await published(stack, "webhooks", order) if b"order.refunded" in r.value]
    # the sandbox sends its deliveries concurrently: in any order, but each one once
    assert sorted(orjson.loads(r.value)["EventData"]["Amount"] for r in raw) == [100, 200, 11981]
    keys = [dedupe_header(r) for r in raw]
    prefix = f"order.refunded:{refunds[0]['OrderId']}:sha256:"
    assert len(set(keys)) == 3 and all(k.startswith(prefix) for k in keys)
    statuses = [orjson.loads(r.value) for r in await published(stack, "status", order)]
    refunded = [s for s in statuses if s["status"] == "REFUNDED"]
    assert sorted(s["detail"]["eventData"]["Amount"] for s in refunded) == [100, 200, 11981]
    assert sorted(s["eventId"] for s in refunded) == sorted(keys)

    # a redelivery of the second refund (same EventData, IsResent) is the same event: dropped
    again = orjson.dumps(refunds[1] | {"IsResent": True})
    assert await send(worker, again) == (200, "duplicate")
    assert len(await published(stack, "webhooks", order)) == 4
    assert len(await published(stack, "status", order)) == len(statuses)
