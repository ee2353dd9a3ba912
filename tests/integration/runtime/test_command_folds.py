"""A command read before the statuses of its order are folded waits for them: real broker, a worker
process reading a merchants file, the sandbox in multi-merchant mode over HTTP.

With several merchants, a command without ``mid`` finds its merchant through its order in the table.
Its order's first status can still be on its way into the table when the command is read (after a
restart or a rebalance the order-state agent folds the statuses since the last commit while the
command agent already runs); answered then, the command was REJECTED, "its merchant is not known",
and a second reading of it (after a kill) answered it differently. Here a backlog of statuses in the
order's partition keeps the agent busy while the command comes in right behind the order's status."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from streams.runtime.reconcile import partition_of
from tests.integration.runtime.test_merchants_flows import Bridge, worker_file
from tests.sandbox.merchants_support import ACME, merchants_sandbox
from tests.support import produce, unique, values, wait_for

pytestmark = pytest.mark.integration

BACKLOG = 3000  # statuses of other orders ahead of the order's own: seconds of folding
PARTITIONS = 2  # Bridge's FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    async with merchants_sandbox(tmp_path / "sandbox") as running:
        yield running


def _status(order: str, status: str, session: str) -> dict[str, Any]:
    """An ``evaluate`` status of ACME's order ``order`` (its merchant named by ``detail.mid``)."""
    return {
        "orderId": order,
        "orderSessionKey": session,
        "status": status,
        "source": "evaluate",
        "eventId": unique("evt"),
        "occurredAt": datetime.now(UTC).isoformat(),
        "detail": {"mid": ACME.mid},
    }


def _in_partition(partition: int, tag: str) -> str:
    while partition_of(order := unique(tag), PARTITIONS) != partition:
        pass
    return order


async def test_a_command_read_before_its_orders_status_is_folded_waits_for_it(
    broker: EmbeddedBroker, sandbox: RunningSandbox, tmp_path: Path, log_dir: Path
) -> None:
    bridge = Bridge(broker, sandbox, worker_file(tmp_path), log_dir)
    try:
        await bridge.ready()
        order, session = unique("FOLD"), str(uuid.uuid4())
        home = partition_of(order, PARTITIONS)
        backlog = [
            (o, _status(o, "PENDING", str(uuid.uuid4())))
            for o in (_in_partition(home, "BACK") for _ in range(BACKLOG))
        ]
        await produce(
            bridge.bootstrap,
            bridge.topics["status"],
            [*backlog, (order, _status(order, "CAPTUREREQUIRED", session))],
        )
        command = {"commandId": unique("cmd"), "type": "cancel", "orderId": order}  # no mid
        await produce(bridge.bootstrap, bridge.topics["commands"], [(order, command)])

        async def answered() -> dict[str, Any] | None:
            found = [
                s for s in values(await bridge.records("status")) if s["eventId"] == command["commandId"]
            ]
            return found[0] if found else None

        answer = await wait_for(answered, 90, "the command's answer")
        # ACME's order, found once folded: the cancel went to Flex as ACME (the sandbox has no such
        # Flex order, so it refuses it), never "unknown to flexbridge"
        assert "unknown to flexbridge" not in str(answer.get("reason")), answer
        assert answer["detail"].get("mid") == ACME.mid, answer
        [call] = await bridge.journal(f"/v1/orders/{session}/cancel")
        assert call["mid"] == ACME.mid
    finally:
        bridge.process.stop()
