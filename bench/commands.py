"""Commands: cancels answered per second by one worker, with Flex at 50 ms a call, against the same
worker running one command at a time (``FLEXBRIDGE_ORDERS__COMMANDS_IN_FLIGHT=1``).

Each command cancels a managed-MIT order made at the sandbox beforehand (``SUBMITTED``, so
cancellable), unknown to the worker and named by its ``orderSessionKey``: the worker looks the order
up at Flex (``GET /v1/orders/{id}``), then cancels it (``POST /v1/orders/{id}/cancel``), two calls
of 50 ms. Each round runs a worker of its own (its own consumer group, commands and status topics);
the clock runs from the first command produced to the sample (every 50 ms) that sees every command
counted out on the worker's ``/metrics``, and every answer must be ``CANCELLED``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import orjson

from bench.common import Figure, flex_token, produce_all, ratio, until
from bench.targets import COMMANDS_VS_ONE_AT_A_TIME
from core.settings import OrderSettings
from sandbox.samples import evaluate_body
from streams.kafka.clients import read_topic
from streams.local.stack import LocalStack, metric_total

__all__ = ["bench_commands"]

LATENCY_MS = 50  # each Flex call, as in the transmit step
ONE_AT_A_TIME_SHARE = 4  # the baseline cancels a quarter as many orders: it is the slow one
IN_FLIGHT = OrderSettings().commands_in_flight  # the default


async def _orders(stack: LocalStack, count: int) -> list[tuple[str, str]]:
    """``count`` cancellable orders made at the sandbox: (orderId, orderSessionKey)."""
    mid = stack.worker_env(0)["FLEXBRIDGE_FLEX__MID"]
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {await flex_token(http)}"}

        async def one(n: int) -> tuple[str, str]:
            order = f"CMD-{uuid.uuid4().hex[:12]}-{n}"
            # managed MIT (an expiry date): SUBMITTED, so cancellable
            body = evaluate_body(order_id=order, is_mit=True, expiry_date_utc="2030-01-01T00:00:00Z", mid=mid)
            answer = await http.post("evaluate", json=body, headers=headers)
            answer.raise_for_status()
            return order, str(answer.json()["orderSessionKey"])

        made: list[tuple[str, str]] = []
        for start in range(0, count, 50):  # 50 at a time
            made += await asyncio.gather(*(one(n) for n in range(start, min(count, start + 50))))
    return made


async def _round(stack: LocalStack, orders: list[tuple[str, str]], in_flight: int) -> float:
    """Cancels of ``orders`` through a worker running ``in_flight`` commands at once: commands/s."""
    group = f"bench-commands-{in_flight}"
    topics = {"COMMANDS": f"{group}.commands", "STATUS": f"{group}.status"}
    env = {f"FLEXBRIDGE_TOPICS__{name}": topic for name, topic in topics.items()}
    env |= {"FLEXBRIDGE_KAFKA__GROUP_ID": group, "FLEXBRIDGE_ORDERS__COMMANDS_IN_FLIGHT": str(in_flight)}
    worker = await stack.start_worker(f"commands-{in_flight}", 60, None, **env)
    try:
        commands = [
            {"commandId": f"c-{order}", "type": "cancel", "orderId": order, "orderSessionKey": session}
            for order, session in orders
        ]
        items = [(c["orderId"].encode(), orjson.dumps(c)) for c in commands]

        async def answered() -> bool:
            out = await metric_total(worker.url, "flexbridge_events_out_total", topic=topics["COMMANDS"])
            return out >= len(commands)

        started = time.monotonic()
        await produce_all(stack.bootstrap, topics["COMMANDS"], items)
        ended = await until(answered, 60 + len(commands), f"{len(commands)} commands answered", every=0.05)
    finally:
        await asyncio.to_thread(worker.child.stop)
    answers = [orjson.loads(r.value) for r in await read_topic(stack.bootstrap, topics["STATUS"]) if r.value]
    _all_cancelled(answers, len(commands))
    return len(commands) / (ended - started)


def _all_cancelled(answers: list[dict[str, Any]], count: int) -> None:
    statuses = [a["status"] for a in answers if a.get("source") == "command"]
    if len(statuses) != count or set(statuses) != {"CANCELLED"}:
        raise RuntimeError(
            f"expected {count} CANCELLED answers, got {sorted(statuses)[:5]}… ({len(statuses)})"
        )


async def bench_commands(stack: LocalStack, count: int) -> list[Figure]:
    baseline_count = max(1, count // ONE_AT_A_TIME_SHARE)
    orders = await _orders(stack, count + baseline_count)
    faults = {"latencyMs": LATENCY_MS, "paths": ["/v1/orders/*"]}
    async with httpx.AsyncClient(base_url=stack.sandbox_root, timeout=10) as http:
        (await http.post("_sandbox/faults", json=faults)).raise_for_status()
        try:
            flexbridge = await _round(stack, orders[:count], in_flight=IN_FLIGHT)
            one = await _round(stack, orders[count:], in_flight=1)
        finally:
            await http.delete("_sandbox/faults")
    note = f"{count} cancels (the baseline {baseline_count}), 2 Flex calls of {LATENCY_MS} ms each"
    return [
        Figure("commands", f"flexbridge, {IN_FLIGHT} at once", flexbridge, "commands/s", note=note),
        Figure("commands", "one at a time", one, "commands/s"),
        Figure(
            "commands", "flexbridge / one at a time", ratio(flexbridge, one), "x", COMMANDS_VS_ONE_AT_A_TIME
        ),
    ]
