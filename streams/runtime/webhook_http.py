"""``POST /webhooks/flex`` served by the worker's aiohttp application directly.

Faust's web server is aiohttp; a Faust ``View`` wraps every request and response in its own
objects and dispatches by method name. The receiver is the worker's hottest endpoint, so it is
routed on Faust's aiohttp ``Application`` (``app.web.web_app``) as a plain aiohttp handler: same
path, same answers (JSON, ``application/json; charset=utf-8``), one layer less per delivery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import faust
import orjson
from aiohttp import web
from faust.web.drivers.aiohttp import Web as AiohttpWeb

if TYPE_CHECKING:
    from streams.runtime.services import BridgeRuntime

__all__ = ["WEBHOOK_PATH", "add_webhook_route"]

WEBHOOK_PATH = "/webhooks/flex"


def add_webhook_route(app: faust.App, runtime: BridgeRuntime) -> None:
    """Route ``POST /webhooks/flex`` of ``app``'s web server to ``runtime.receive_webhook``."""

    async def flex_webhooks(request: web.Request) -> web.Response:
        body = await request.read()  # the raw bytes: the signature covers them exactly
        host = request.headers.get("Host", "")
        answer = await runtime.receive_webhook(request.method, host, request.headers, body)
        return web.Response(
            body=orjson.dumps(answer.body),
            status=answer.status,
            content_type="application/json",
            charset="utf-8",
        )

    driver = app.web
    if not isinstance(driver, AiohttpWeb):  # flexbridge configures Faust's default, aiohttp
        raise TypeError(f"the receiver needs Faust's aiohttp web driver, not {type(driver).__name__}")
    driver.web_app.router.add_post(WEBHOOK_PATH, flex_webhooks)
