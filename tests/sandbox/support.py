"""Helpers shared by the sandbox's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from aiohttp import web

from sandbox import DEV_APP_KEY, DEV_APP_SECRET, RunningSandbox

__all__ = ["posts_to", "signed_in"]


@asynccontextmanager
async def signed_in(sandbox: RunningSandbox, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on ``base_url`` holding a valid bearer token of ``sandbox``."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        credentials = {"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET}
        token = await http.post(f"{sandbox.url}oauth2/token", json=credentials)
        http.headers["Authorization"] = f"Bearer {token.json()['accessToken']}"
        yield http


@asynccontextmanager
async def posts_to(
    handle: Callable[[web.Request], Awaitable[web.Response]], route: str = "/{tail:.*}"
) -> AsyncIterator[str]:
    """A loopback HTTP server on a free port that answers the POSTs to ``route`` with ``handle``;
    yields its base URL (``http://127.0.0.1:<port>``)."""
    app = web.Application()
    app.router.add_post(route, handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
