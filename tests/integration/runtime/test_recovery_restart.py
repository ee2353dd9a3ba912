"""A worker whose order table recovery loses records of a changelog partition (taken from Kafka,
handed to no one: tests/lose_changelog.py) waits for them for ever without
streams/runtime/faust_recovery.py, answering nothing; with it, the recovery starts again after 30 s
of no progress, reads them back and serves every order."""

from __future__ import annotations

import httpx
import pytest

from streams.runtime.reconcile import partition_of
from tests.conftest import Stack
from tests.flows import order_codes, ready, submitted_and_served
from tests.support import wait_for

pytestmark = pytest.mark.integration

PARTITIONS = 4  # the stack's FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS
ORDERS = [f"RCV-{i}" for i in range(40)]
IN_PARTITION_0 = [o for o in ORDERS if partition_of(o, PARTITIONS) == 0]


async def _restarts(url: str) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(url + "/metrics")).text
    name = "flexbridge_table_recovery_restarts_total"
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


async def test_a_recovery_that_lost_records_starts_again_and_serves_every_order(stack: Stack) -> None:
    assert IN_PARTITION_0
    first = stack.worker()
    await ready(first)
    await submitted_and_served(stack, first, ORDERS)  # in the first worker's table and changelog
    first.process.stop()

    second = stack.worker(module="tests.lose_changelog")

    async def served() -> bool:
        try:
            return set((await order_codes(second, IN_PARTITION_0)).values()) == {200}
        except httpx.TransportError:
            return False

    await wait_for(served, 120, "partition 0's orders served after the recovery started again", every=0.5)
    log = second.process.output()
    assert "lost changelog record 0:" in log  # the fault happened
    assert "order table recovery: no record for 30 s" in log
    assert await _restarts(second.url) >= 1
    assert set((await order_codes(second, ORDERS)).values()) == {200}
