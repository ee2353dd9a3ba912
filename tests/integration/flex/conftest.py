"""The real FlexClient against the real sandbox over real HTTP.

Every test starts its own sandbox on a free port and inspects it through ``/_sandbox/...``. The only
white-box access is ``sandbox.state.faults`` from inside the client's synchronous ``on_retry`` hook, to
switch a fault off at an exact point of a retry sequence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from consumers.flex.client import FlexClient
from sandbox import RunningSandbox, SandboxConfig, start_sandbox
from tests.integration.flex.support import Admin, MakeClient, flex_settings

CLIENT_KWARGS = {"clock", "wall_clock", "sleep", "rng", "on_call", "on_retry"}


@pytest.fixture
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[RunningSandbox]:
    """A fresh sandbox on a free port; indirect parametrisation passes SandboxConfig fields."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    async with await start_sandbox(SandboxConfig(port=0, **overrides)) as running:
        yield running


@pytest.fixture
async def admin(sandbox: RunningSandbox) -> AsyncIterator[Admin]:
    async with httpx.AsyncClient(base_url=f"{sandbox.base_url}/_sandbox/", timeout=10) as http:
        yield Admin(http)


@pytest.fixture
async def make_client(sandbox: RunningSandbox) -> AsyncIterator[MakeClient]:
    """``make_client(on_call=..., deadline_seconds=...)``: FlexClient kwargs and FlexSettings overrides."""
    made: list[FlexClient] = []

    def make(**overrides: Any) -> FlexClient:
        kwargs = {k: overrides.pop(k) for k in list(overrides) if k in CLIENT_KWARGS}
        client = FlexClient(flex_settings(sandbox, **overrides), **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def flex(make_client: MakeClient) -> FlexClient:
    return make_client()
