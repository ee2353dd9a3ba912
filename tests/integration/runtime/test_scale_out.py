"""Two workers in one consumer group: a rebalance mid-stream loses nothing and duplicates no effect."""

from __future__ import annotations

from collections import Counter

import pytest

from streams.local.stack import metric_total
from streams.local.traffic import plan
from tests.conftest import Stack
from tests.flows import publish, ready, settle
from tests.support import read_all, wait_for

pytestmark = pytest.mark.integration


async def _processed(url: str) -> float:
    return await metric_total(url, "flexbridge_events_out_total")


async def test_a_second_worker_joins_then_leaves_mid_stream_and_nothing_is_lost_or_doubled(
    stack: Stack,
) -> None:
    stack.sandbox.call(
        "POST", "/_sandbox/faults", {"latencyMs": 100, "paths": ["/v1/evaluate", "/v1/transmit"]}
    )
    stack.env["FLEXBRIDGE_PIPELINE__MAX_IN_FLIGHT"] = "1"  # slow enough to still be busy when #2 joins
    first = stack.worker()
    await ready(first)
    planned = [p for p in plan(500, seed=41) if p.kind not in {"bad-json", "bad-schema", "raw-pan"}]
    await publish(stack, planned)

    async def progressed(n: int) -> int | None:
        done = len(await read_all(stack.bootstrap, stack.topics["status"]))
        return done if done >= n else None

    await wait_for(lambda: progressed(20), 60, "the first statuses")
    second = stack.worker()  # joins: the group rebalances while the first worker is busy
    await ready(second)
    await wait_for(lambda: _processed(second.url), 60, "the second worker to take a share")
    assert second.process.stop() == 0  # leaves mid-stream: a second rebalance
    result = await settle(stack, planned, timeout=120)
    assert all(r.matched == r.published for r in result.rows.values()), (result.rows, result.examples)
    assert result.duplicate_effects == 0
    effects: dict[str, set[str]] = {}
    for call in stack.sandbox.journal("/v1/evaluate"):
        if call["status"] == 200:
            effects.setdefault(call["body"]["orderId"], set()).add(call["idempotencyKey"])
    assert effects and all(len(keys) == 1 for keys in effects.values())  # never a second key per event
    orders = Counter(o["orderId"] for o in stack.sandbox.orders())
    assert max(orders.values()) == 1  # one Flex order per event
