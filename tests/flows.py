"""Drive planned traffic through a stack and collect what came out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from schemas.codec import encode_model
from schemas.status import status_of
from streams.local.reconciliation import Observed, Reconciliation, read_observed, reconcile
from streams.local.traffic import Planned
from tests.conftest import Stack, Worker
from tests.support import produce, wait_for


async def publish(stack: Stack, planned: list[Planned]) -> None:
    for topic in ("approved", "declined"):
        items: list[tuple[str | None, Any]] = [(p.key, p.value) for p in planned if p.topic == topic]
        if items:
            await produce(stack.bootstrap, stack.topics[topic], items)


async def observe(stack: Stack) -> Observed:
    journal = await asyncio.to_thread(stack.sandbox.journal)
    return await read_observed(stack.bootstrap, stack.topics["status"], stack.topics["dlq"], journal)


async def settle(stack: Stack, planned: list[Planned], timeout: float = 60) -> Reconciliation:
    """Wait until every planned event has an outcome (right or wrong), then reconcile."""

    async def accounted() -> Reconciliation | None:
        result = reconcile(planned, await observe(stack))
        missing = sum(r.missing for r in result.rows.values())
        return result if missing == 0 else None

    try:
        return await wait_for(accounted, timeout, "every event to reach an outcome", every=0.5)
    except AssertionError:
        result = reconcile(planned, await observe(stack))
        rows = {k: (r.published, r.matched, r.wrong, r.missing) for k, r in result.rows.items()}
        raise AssertionError(f"not settled after {timeout} s: {rows} {result.examples}") from None


async def ready(worker: Worker, timeout: float = 60) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        if worker.process.proc.poll() is not None:
            raise AssertionError(
                f"worker exited {worker.process.proc.returncode}:\n{worker.process.output()[-3000:]}"
            )
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                answer = await http.get(worker.url + "/ready")
        except httpx.TransportError:
            return None
        body: dict[str, Any] = answer.json()
        return body if answer.status_code == 200 else None

    started = time.monotonic()
    body = await wait_for(check, timeout, "the worker to be ready")
    body["seconds"] = time.monotonic() - started
    return body


async def order_codes(worker: Worker, orders: list[str]) -> dict[str, int]:
    """The HTTP status of ``GET /orders/{orderId}`` on ``worker`` for each of ``orders``."""
    async with httpx.AsyncClient(timeout=5) as http:
        return {o: (await http.get(f"{worker.url}/orders/{o}")).status_code for o in orders}


async def submitted_and_served(stack: Stack, worker: Worker, orders: list[str]) -> None:
    """A ``SUBMITTED`` status of each of ``orders`` on ``orders.status``, then until ``worker``
    serves every one of them."""
    records = [(o, encode_model(status_of(o, "SUBMITTED", "webhook", f"W-{o}"))) for o in orders]
    await produce(stack.bootstrap, stack.topics["status"], records)

    async def served() -> bool:
        return set((await order_codes(worker, orders)).values()) == {200}

    await wait_for(served, 60, "every order served", every=0.3)


async def order_table(worker: Worker) -> tuple[int, int]:
    """``worker``'s order table on ``/ready`` (503 or not): its orders, and the partitions it holds
    as standby copies of other workers'."""
    async with httpx.AsyncClient(timeout=5) as http:
        body = (await http.get(worker.url + "/ready")).json()
    return int(body["order_table_entries"]), int(body["order_table_standby_partitions"])
