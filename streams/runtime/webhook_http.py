"""The webhook routes as plain aiohttp handlers: on Faust's web server, or on a listener of their own.

Faust's web server is aiohttp; a Faust ``View`` wraps every request and response in its own
objects and dispatches by method name. The receiver is the worker's hottest endpoint, so it is a
plain aiohttp handler: same path, same answers (JSON, ``application/json; charset=utf-8``), one
layer less per delivery. It is routed either on Faust's aiohttp ``Application`` (no
``FLEXBRIDGE_WEBHOOK__PORT``) or on the public listener (streams/runtime/webhook_listener.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import faust
import orjson
from aiohttp import web
from faust.web.drivers.aiohttp import Web as AiohttpWeb

if TYPE_CHECKING:
    from streams.runtime.services import BridgeRuntime

__all__ = [
    "MERCHANT_WEBHOOK_PATH",
    "WEBHOOK_PATH",
    "WEBHOOK_PREFIX",
    "WEBHOOK_ROUTES",
    "AiohttpHandler",
    "add_webhook_route",
    "aiohttp_app",
    "webhook_handler",
]

WEBHOOK_PATH = "/webhooks/flex"
MERCHANT_WEBHOOK_PATH = "/webhooks/flex/{name}"  # one merchant's deliveries (DESIGN.md §2.9)
WEBHOOK_PREFIX = WEBHOOK_PATH + "/"  # every merchant's path starts so
# Every path that takes Flex's deliveries: the handler reads ``name`` from the match (None on the
# plain path).
WEBHOOK_ROUTES: tuple[str, ...] = (WEBHOOK_PATH, MERCHANT_WEBHOOK_PATH)

log = logging.getLogger(__name__)

AiohttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def webhook_handler(runtime: BridgeRuntime) -> AiohttpHandler:
    """``POST`` of a webhook route → ``runtime.receive_webhook``, answered in JSON."""

    async def flex_webhooks(request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        try:
            body = await request.read()  # the raw bytes: the signature covers them exactly
        except ConnectionResetError:  # the sender hung up mid-body, or this worker is stopping
            log.info("a webhook delivery's connection closed before its body arrived; not received")
            return _json(
                400, {"status": "malformed", "error": "the connection closed before the body arrived"}
            )
        host = request.headers.get("Host", "")
        name = request.match_info.get("name")
        if name is None:
            answer = await runtime.receive_webhook(request.method, host, request.headers, body)
        else:
            answer = await runtime.receive_webhook(request.method, host, request.headers, body, merchant=name)
        response = _json(answer.status, answer.body)
        runtime.metrics.webhook_seconds.observe(time.monotonic() - started)
        return response

    return flex_webhooks


def _json(status: int, body: dict[str, object]) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", charset="utf-8"
    )


def aiohttp_app(app: faust.App) -> web.Application:
    """Faust's aiohttp ``Application`` (flexbridge configures Faust's default driver, aiohttp)."""
    driver = app.web
    if not isinstance(driver, AiohttpWeb):
        raise TypeError(f"the receiver needs Faust's aiohttp web driver, not {type(driver).__name__}")
    return driver.web_app


def add_webhook_route(app: faust.App, runtime: BridgeRuntime) -> None:
    """Route ``POST`` of every webhook path of ``app``'s web server to ``runtime.receive_webhook``."""
    handler = webhook_handler(runtime)
    for path in WEBHOOK_ROUTES:
        aiohttp_app(app).router.add_post(path, handler)
