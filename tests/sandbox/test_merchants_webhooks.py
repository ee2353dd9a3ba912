"""The sandbox's webhook sender in multi-merchant mode: each merchant's webhooks go to its URL,
signed with its own subscriber key (checked with flexbridge's verifier, the §3.4 recipe)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from consumers.webhooks.signature import WebhookRejected, WebhookVerifier
from sandbox import RunningSandbox
from sandbox.samples import evaluate_body
from tests.sandbox.merchants_support import BOLT, MERCHANTS, merchants_sandbox, signed_in_as
from tests.sandbox.support import posts_to
from tests.support import wait_for

pytestmark = pytest.mark.integration


@dataclass
class Endpoint:
    """A loopback HTTP server that keeps every POST: its path, Host, headers and raw body."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append({"path": request.path, "headers": dict(request.headers), "body": body})
        return web.Response(status=200)


@asynccontextmanager
async def endpoint() -> AsyncIterator[Endpoint]:
    found = Endpoint()
    async with posts_to(found.handle) as found.url:
        yield found


@pytest.fixture
async def shared() -> AsyncIterator[Endpoint]:
    """Where acme's and bolt's webhooks go: ``--webhook-url`` + ``/<name>``."""
    async with endpoint() as found:
        yield found


@pytest.fixture
async def own() -> AsyncIterator[Endpoint]:
    """cora's own ``webhook_url``."""
    async with endpoint() as found:
        yield found


@pytest.fixture
async def many(tmp_path: Path, shared: Endpoint, own: Endpoint) -> AsyncIterator[RunningSandbox]:
    urls = {"cora": f"{own.url}/cora/flex"}
    async with merchants_sandbox(tmp_path, urls, webhook_url=f"{shared.url}/hooks/") as running:
        yield running


def _signers(delivery: dict[str, Any]) -> list[str]:
    """The merchants whose subscriber key verifies ``delivery``."""
    names = []
    for merchant in MERCHANTS:
        verifier = WebhookVerifier(merchant.subscriber_key)
        try:
            verifier.verify("POST", delivery["headers"]["Host"], delivery["headers"], delivery["body"])
        except WebhookRejected:
            continue
        names.append(merchant.name)
    return names


async def test_each_merchants_webhooks_are_signed_with_its_key_and_posted_to_its_url(
    many: RunningSandbox, shared: Endpoint, own: Endpoint
) -> None:
    for merchant in MERCHANTS:
        async with signed_in_as(many, merchant) as http:
            body = evaluate_body(order_id=f"W-{merchant.name}", mid=merchant.mid, card_last4="1111")
            assert (await http.post("/v1/evaluate", json=body)).status_code == 200

    async def arrived() -> bool:
        return len(shared.received) == 2 and len(own.received) == 1

    await wait_for(arrived, 10, "one webhook per merchant")
    by_path = {d["path"]: d for d in shared.received + own.received}
    assert sorted(by_path) == ["/cora/flex", "/hooks/acme", "/hooks/bolt"]
    assert _signers(by_path["/hooks/acme"]) == ["acme"]
    assert _signers(by_path["/hooks/bolt"]) == ["bolt"]
    assert _signers(by_path["/cora/flex"]) == ["cora"]
    assert b'"ExternalOrderId":"W-cora"' in by_path["/cora/flex"]["body"]


async def test_a_payout_names_its_merchant(many: RunningSandbox, shared: Endpoint) -> None:
    async with httpx.AsyncClient(base_url=many.base_url, timeout=10) as admin:
        unnamed = await admin.post("/_sandbox/webhooks", json={"event": "payout.created"})
        sent = await admin.post("/_sandbox/webhooks", json={"event": "payout.created", "merchant": "bolt"})
    assert unnamed.status_code == 400
    assert sent.status_code == 202 and sent.json()["merchant"] == BOLT.name

    async def arrived() -> bool:
        return len(shared.received) == 1

    await wait_for(arrived, 10, "bolt's payout webhook")
    assert shared.received[0]["path"] == "/hooks/bolt" and _signers(shared.received[0]) == ["bolt"]
