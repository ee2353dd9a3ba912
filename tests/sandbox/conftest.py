"""The sandbox's own tests run it in-process, a fresh one per test, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox import RunningSandbox, SandboxConfig, start_sandbox
from tests.sandbox.support import signed_in


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with await start_sandbox(SandboxConfig()) as running:
        yield running


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a valid bearer token (test_api.py overrides it with an anonymous one)."""
    async with signed_in(sandbox, sandbox.url) as http:
        yield http
