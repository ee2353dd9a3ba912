"""The receiver's route on Faust's aiohttp application: same path, raw body in, JSON answer out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

import faust
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from streams.runtime.metrics import Metrics
from streams.runtime.services import BridgeRuntime
from streams.runtime.webhook_http import WEBHOOK_PATH, AiohttpHandler, add_webhook_route
from streams.runtime.webhooks import WebhookAnswer


class _Runtime:
    """Stands in for the bridge runtime: records what the route handed over, answers as told."""

    def __init__(self, answer: WebhookAnswer) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, dict[str, str], bytes]] = []
        self.metrics = Metrics()

    def answers_timed(self) -> float:
        return self.metrics.registry.get_sample_value("flexbridge_webhook_seconds_count") or 0.0

    async def receive_webhook(
        self, method: str, host: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookAnswer:
        self.calls.append((method, host, dict(headers), body))
        return self.answer


async def _client(answer: WebhookAnswer) -> tuple[TestClient[Any, Any], _Runtime]:
    app = faust.App("webhook-http-test", autodiscover=False, store="memory://")
    runtime = _Runtime(answer)
    add_webhook_route(app, cast(BridgeRuntime, runtime))
    web = cast(AiohttpWeb, app.web)
    client = TestClient(TestServer(web.web_app))
    await client.start_server()
    return client, runtime


async def test_the_raw_body_goes_to_the_receiver_and_its_answer_comes_back_as_json() -> None:
    client, runtime = await _client(
        WebhookAnswer(200, {"status": "accepted", "dedupeKey": "order.completed:x"})
    )
    port = client.port
    body = b'{"Event": "order.completed", "OrderId": "x"}  '  # trailing bytes kept: the signature covers them
    try:
        async with client.post(WEBHOOK_PATH, data=body, headers={"X-FC-Nonce": "n"}) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
            assert orjson.loads(await answer.read()) == {
                "status": "accepted",
                "dedupeKey": "order.completed:x",
            }
    finally:
        await client.close()
    [(method, host, headers, received)] = runtime.calls
    assert (method, received, headers["X-FC-Nonce"]) == ("POST", body, "n")
    assert host == f"127.0.0.1:{port}"
    assert runtime.answers_timed() == 1  # flexbridge_webhook_seconds: each answer's time


async def test_refusals_keep_their_status_and_other_methods_are_not_allowed() -> None:
    client, runtime = await _client(WebhookAnswer(401, {"status": "rejected", "error": "bad signature"}))
    try:
        async with client.post(WEBHOOK_PATH, data=b"{}") as answer:
            assert (answer.status, orjson.loads(await answer.read())["status"]) == (401, "rejected")
        async with client.get(WEBHOOK_PATH) as answer:
            assert answer.status == 405
    finally:
        await client.close()
    assert len(runtime.calls) == 1


async def test_a_delivery_cut_off_mid_body_reaches_nobody_and_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As served in a worker: an ``AppRunner`` without handler cancellation (``TestServer`` cancels
    the handler instead), so the handler's read of the body fails when the sender hangs up."""
    caplog.set_level(logging.INFO, logger="streams.runtime.webhook_http")
    app = faust.App("webhook-http-cut", autodiscover=False, store="memory://")
    runtime = _Runtime(WebhookAnswer(200, {"status": "accepted"}))
    add_webhook_route(app, cast(BridgeRuntime, runtime))
    web_app = cast(AiohttpWeb, app.web).web_app
    reading, answered = asyncio.Event(), asyncio.Event()

    @web.middleware
    async def watch(request: web.Request, handler: AiohttpHandler) -> web.StreamResponse:
        reading.set()  # the route's handler runs next, and reads the body
        try:
            return await handler(request)
        finally:
            answered.set()

    web_app.middlewares.append(watch)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        _, port = runner.addresses[0]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        writer.write(head.encode() + b'{"Event": "order.comp')  # 21 of the 1,000 bytes announced
        await writer.drain()
        await reading.wait()
        writer.close()
        await writer.wait_closed()
        await answered.wait()
    finally:
        await runner.cleanup()
    assert runtime.calls == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("closed before its body arrived" in r.getMessage() for r in caplog.records)
