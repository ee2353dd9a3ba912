"""Payment events an upstream processor wrote in Kafka transactions (a librdkafka transactional
producer, as Kafka Streams, Flink and exactly-once outbox relays write), through a worker on the
embedded broker: each reaches its outcome, and the real-time pipeline's commit passes each
transaction's commit marker (an offset of its own after the transaction's last record), so every
partition's lag gauge reaches 0 once the topic is quiet."""

from __future__ import annotations

import asyncio

import pytest

from streams.local.traffic import plan
from tests.conftest import Stack
from tests.flows import ready, settle
from tests.integration.runtime.test_metrics import lags
from tests.support import in_transactions, wait_for

pytestmark = pytest.mark.integration


async def test_transactional_events_reach_their_outcome_and_leave_no_lag(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    planned = plan(40, seed=41)
    for role in ("approved", "declined"):
        items = [(p.key, p.value) for p in planned if p.topic == role]
        await asyncio.to_thread(in_transactions, stack.bootstrap, stack.topics[role], items, 5)
    result = await settle(stack, planned, timeout=90)
    assert result.ok, (result.rows, result.examples)

    async def caught_up() -> list[float] | None:
        found = await lags(worker)
        return found if found and not any(found) else None

    # every partition of both topics, past its last commit marker (before: 1 where one was last)
    assert len(await wait_for(caught_up, 30, "every partition's lag to reach 0")) == 8
