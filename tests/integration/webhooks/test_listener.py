"""The public webhook listener and the admin token: a real worker process on the real broker.

With ``FLEXBRIDGE_WEBHOOK__PORT`` set, that port answers only ``POST /webhooks/flex``; the web port
keeps the internal endpoints, behind ``FLEXBRIDGE_WEB__ADMIN_TOKEN`` except the probes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from consumers.webhooks.signature import http_date, new_nonce, sign
from streams.local.broker import EmbeddedBroker
from streams.local.procs import free_port
from tests.conftest import Stack, Worker
from tests.support import Sandbox, run_flexbridge, unique, wait_for
from tests.webhook_support import CURRENT_KEY, KEYS_ENV, payload, published

pytestmark = pytest.mark.integration

TOKEN = "admin-" + "7" * 40
PUBLIC_ONLY_404 = ("/metrics", "/orders/X", "/router/", "/table/orders/", "/ready", "/health", "/")
ADMIN_PATHS = ("/metrics", "/orders/X", "/router/", "/table/orders/")


@pytest.fixture(scope="module")
def guarded(broker: EmbeddedBroker, sandbox: Sandbox, log_dir: Path) -> Iterator[tuple[Stack, Worker, str]]:
    """One worker with a public webhook listener of its own and an admin token on its web port."""
    stack = Stack(broker, sandbox, log_dir)
    public = free_port()
    worker = stack.worker(**KEYS_ENV, FLEXBRIDGE_WEBHOOK__PORT=public, FLEXBRIDGE_WEB__ADMIN_TOKEN=TOKEN)
    try:
        worker.process.wait_ready(worker.url + "/ready", 90)
        yield stack, worker, f"http://127.0.0.1:{public}"
    finally:
        stack.close()


def signed_for(url: str, body: bytes) -> dict[str, str]:
    """Headers of a delivery to ``url``, signed with the subscriber key (the signature covers Host)."""
    host = url.removeprefix("http://")
    headers = sign(body, key_b64=CURRENT_KEY, host=host, date=http_date(datetime.now(UTC)), nonce=new_nonce())
    return headers | {"Content-Type": "text/plain; charset=utf-8"}


async def test_the_public_listener_answers_404_to_all_but_the_webhook_route(
    guarded: tuple[Stack, Worker, str],
) -> None:
    _, worker, public = guarded
    async with httpx.AsyncClient(timeout=30) as http:
        for path in PUBLIC_ONLY_404:
            for method in ("GET", "POST"):
                answer = await http.request(method, public + path)
                assert answer.status_code == 404, (method, path, answer.status_code)
        for method in ("GET", "PUT", "DELETE"):
            assert (await http.request(method, public + "/webhooks/flex")).status_code == 404, method
        body = payload(unique("ORD-WEB"))  # the web port no longer takes webhooks, signed or not
        moved = await http.post(
            worker.url + "/webhooks/flex", content=body, headers=signed_for(worker.url, body)
        )
        assert moved.status_code in (401, 404), moved.status_code


async def test_the_public_listener_accepts_a_signed_webhook(guarded: tuple[Stack, Worker, str]) -> None:
    stack, _, public = guarded
    order = unique("ORD-PUB")
    body = payload(order)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(public + "/webhooks/flex", content=body, headers=signed_for(public, body))
        assert (answer.status_code, answer.json()["status"]) == (200, "accepted")
        refused = await http.post(
            public + "/webhooks/flex", content=body, headers={"Content-Type": "text/plain"}
        )
        assert refused.status_code == 401  # unsigned: the receiver's own refusal
    assert [r.value for r in await published(stack, "webhooks", order)] == [body]
    statuses = [orjson.loads(r.value) for r in await published(stack, "status", order)]
    assert [(s["status"], s["source"]) for s in statuses] == [("APPROVED", "webhook")]


async def test_admin_endpoints_need_the_token_and_the_probes_do_not(
    guarded: tuple[Stack, Worker, str],
) -> None:
    _, worker, _ = guarded
    right = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=30) as http:
        for path in ADMIN_PATHS:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                answer = await http.get(worker.url + path, headers=headers)
                assert answer.status_code == 401, (path, headers, answer.status_code)
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await http.get(worker.url + "/metrics", headers=right)).status_code == 200
        assert (await http.get(worker.url + "/router/", headers=right)).status_code == 200
        for path in ("/router/nope/", "/router/nope/X/"):  # no table: 404, not 500 or 503
            assert (await http.get(worker.url + path, headers=right)).status_code == 404, path
        unknown = await unknown_order(http, worker, right)
        assert unknown.json()["orderId"] == "X"
        for probe in ("/health", "/ready"):
            assert (await http.get(worker.url + probe)).status_code == 200, probe


async def unknown_order(http: httpx.AsyncClient, worker: Worker, headers: dict[str, str]) -> httpx.Response:
    """``GET /orders/X`` once the order table is assigned (503 until then): 404, unknown order."""

    async def answered() -> httpx.Response | None:
        answer = await http.get(worker.url + "/orders/X", headers=headers)
        return answer if answer.status_code == 404 else None

    return await wait_for(answered, 60, "GET /orders/X to answer 404")


async def test_flexbridge_order_sends_the_admin_token(guarded: tuple[Stack, Worker, str]) -> None:
    _, worker, _ = guarded
    async with httpx.AsyncClient(timeout=30) as http:
        await unknown_order(http, worker, {"Authorization": f"Bearer {TOKEN}"})
    args = ("order", "ORD-NONE", "--url", worker.url)
    code, _, err = await run_flexbridge({}, *args)
    assert code == 2 and "admin token" in err
    code, _, err = await run_flexbridge({"FLEXBRIDGE_WEB__ADMIN_TOKEN": TOKEN}, *args)
    assert code == 1 and "unknown order ORD-NONE" in err
