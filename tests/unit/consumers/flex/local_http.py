"""A local aiohttp server and one-request helper for the Flex client's network tests
(test_network.py, test_asyncio_sync.py)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import httpcore
from aiohttp import web

from streams.local.procs import free_port

__all__ = ["Handler", "echo", "request", "serve"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"method": request.method, "bytes": len(body), "tls": request.secure})


async def request(pool: httpcore.AsyncConnectionPool, url: str, body: bytes = b"") -> httpcore.Response:
    return await pool.request("POST", url, content=body, extensions={"timeout": {"read": 5.0}})
