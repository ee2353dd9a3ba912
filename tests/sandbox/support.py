"""Helpers shared by the sandbox's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from sandbox import DEV_APP_KEY, DEV_APP_SECRET, RunningSandbox

__all__ = ["signed_in"]


@asynccontextmanager
async def signed_in(sandbox: RunningSandbox, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on ``base_url`` holding a valid bearer token of ``sandbox``."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        credentials = {"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET}
        token = await http.post(f"{sandbox.url}oauth2/token", json=credentials)
        http.headers["Authorization"] = f"Bearer {token.json()['accessToken']}"
        yield http
