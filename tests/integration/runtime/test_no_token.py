"""A worker whose Flex credentials are refused from its start joins its group but reads no payment
event (each could only be dead-lettered ``flex-auth``); a worker with good credentials then takes
them all to their outcome, none dead-lettered."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from streams.local.traffic import plan
from tests.conftest import Stack
from tests.flows import publish, ready, settle
from tests.support import read_all, wait_for

pytestmark = pytest.mark.integration


async def _ready_body(url: str) -> dict[str, Any] | None:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            body: dict[str, Any] = (await http.get(url + "/ready")).json()
    except httpx.TransportError:
        return None
    return body


async def test_a_worker_without_a_flex_token_reads_nothing_and_loses_nothing(stack: Stack) -> None:
    refused = stack.worker(FLEXBRIDGE_FLEX__APP_SECRET="not-the-secret")  # noqa: S106 (a wrong one)

    async def joined() -> dict[str, Any] | None:
        body = await _ready_body(refused.url)
        return body if body and body.get("joined") and body.get("partitions") else None

    body = await wait_for(joined, 60, "the worker without a token to join its group")
    assert body["ready"] is False and body["flex_token"] is False and body["unread"] is True
    planned = [p for p in plan(40, seed=21) if p.kind in {"approval", "cit-approved", "cit-challenge"}]
    await publish(stack, planned)
    polls = body["polls"]

    async def polled_since() -> dict[str, Any] | None:  # it fetched twice with the records on the topic
        later = await _ready_body(refused.url)
        return later if later and later["polls"] >= polls + 2 else None

    after = await wait_for(polled_since, 30, "two more polls of the worker without a token")
    assert after["processed"] == 0 and after["unread"] is True
    assert await asyncio.to_thread(refused.process.stop) == 0
    assert await read_all(stack.bootstrap, stack.topics["dlq"]) == []  # nothing dead-lettered flex-auth

    good = stack.worker()
    await ready(good)
    result = await settle(stack, planned)
    assert result.ok, (result.rows, result.examples)
    assert await read_all(stack.bootstrap, stack.topics["dlq"]) == []
