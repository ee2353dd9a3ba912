"""The public listener: Flex's webhook routes on a port of their own, and nothing else.

With ``FLEXBRIDGE_WEBHOOK__PORT`` set, the worker opens a second aiohttp server on
``FLEXBRIDGE_WEBHOOK__HOST:PORT`` that answers ``POST`` of the webhook routes and 404 to every other
path or method, so only this port needs to face the internet. The web port (``/metrics``, ``/ready``,
``/orders/{id}``, Faust's ``/router/`` and ``/table/…``) then stays behind the internal boundary, and
the webhook routes leave it. Unset, the webhooks are served on the web port as before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import faust
from aiohttp import web
from mode import Service

from core.settings import WebhookSettings, WebSettings
from streams.runtime.admin_token import PROBES, require_token
from streams.runtime.webhook_http import (
    WEBHOOK_PATH,
    WEBHOOK_PREFIX,
    WEBHOOK_ROUTES,
    add_webhook_route,
    aiohttp_app,
    webhook_handler,
)

if TYPE_CHECKING:
    from streams.runtime.services import BridgeRuntime

__all__ = ["WebhookListener", "public_app", "serve_http"]

log = logging.getLogger(__name__)


def public_app(runtime: BridgeRuntime) -> web.Application:
    """The webhook routes, ``POST`` only; aiohttp answers 404 to every other path."""
    handler = webhook_handler(runtime)

    async def post_only(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":  # 404, not 405: the public port names no other method
            raise web.HTTPNotFound
        return await handler(request)

    app = web.Application()
    for path in WEBHOOK_ROUTES:
        app.router.add_route("*", path, post_only)
    return app


class WebhookListener(Service):
    """Runs :func:`public_app` on ``host:port`` while the Faust app runs."""

    def __init__(self, handler_app: web.Application, host: str, port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._runner = web.AppRunner(handler_app, access_log=None)
        self._host, self._port = host, port

    async def on_start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port, reuse_address=True).start()
        log.info("webhook listener on %s:%d (POST %s)", self._host, self._port, ", ".join(WEBHOOK_ROUTES))

    async def on_stop(self) -> None:
        await self._runner.cleanup()


def serve_http(
    app: faust.App, runtime: BridgeRuntime, web_settings: WebSettings, hooks: WebhookSettings
) -> None:
    """Route the webhooks (own listener, or the web port) and guard the web port with the admin token."""
    open_paths: set[str] = set(PROBES)
    open_prefixes: tuple[str, ...] = ()
    if hooks.port is None:
        add_webhook_route(app, runtime)  # on aiohttp directly: the receiver's hot path
        open_paths.add(WEBHOOK_PATH)
        open_prefixes = (WEBHOOK_PREFIX,)  # /webhooks/flex/{name}
    else:
        app.add_dependency(WebhookListener(public_app(runtime), hooks.host, hooks.port, loop=app.loop))
    if web_settings.admin_token is not None:
        require_token(aiohttp_app(app), web_settings.admin_token, open_paths, open_prefixes)
