"""The sandbox's own tests run it in-process, a fresh one per test, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox import RunningSandbox, SandboxConfig, start_sandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    running = await start_sandbox(SandboxConfig())
    try:
        yield running
    finally:
        await running.close()
