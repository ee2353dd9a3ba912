"""The sandbox's own tests run it in-process, a fresh one per test, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox import DEV_APP_KEY, DEV_APP_SECRET, RunningSandbox, SandboxConfig, start_sandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    running = await start_sandbox(SandboxConfig())
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a valid bearer token (test_api.py overrides it with an anonymous one)."""
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as http:
        token = await http.post("oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET})
        http.headers["Authorization"] = f"Bearer {token.json()['accessToken']}"
        yield http
