"""A command sent right behind its order's latest status: real broker, a worker process, the sandbox
over HTTP. A downstream service that reads ``APPROVED`` on ``orders.status`` and at once asks for a
refund can reach a worker whose order-state agent has not folded that status yet (here a backlog of
statuses in the order's partition keeps the agent busy). The order state as it stands would refuse
the refund; the command first waits until the statuses of its partition read before it are folded,
then is checked, and the refund is made."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from streams.runtime.reconcile import partition_of
from tests.conftest import Stack
from tests.flows import ready
from tests.integration.runtime.test_command_concurrency import PARTITIONS, order_where
from tests.integration.runtime.test_commands import answers, command, evaluate_behind_the_bridge, send
from tests.support import produce, unique

pytestmark = pytest.mark.integration

BACKLOG = 3000  # statuses of other orders ahead of the order's own: seconds of folding


def evaluated(order: str, status: str, session: str, **detail: Any) -> dict[str, Any]:
    """An ``evaluate`` status of ``order``, as the pipeline publishes it."""
    return {
        "orderId": order,
        "orderSessionKey": session,
        "status": status,
        "source": "evaluate",
        "eventId": unique("evt"),
        "occurredAt": datetime.now(UTC).isoformat(),
        "detail": detail,
    }


async def test_a_refund_sent_right_behind_its_orders_approval_waits_for_it_to_be_folded(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    order = unique("ORD")
    session = await evaluate_behind_the_bridge(stack, order, "cit-approved")  # Flex: APPROVED, 15.00
    home = partition_of(order, PARTITIONS)
    others = [order_where(lambda p: p == home) for _ in range(BACKLOG)]
    backlog = [(o, evaluated(o, "PENDING", unique("s"))) for o in others]
    approved = evaluated(order, "APPROVED", session, amount=1500, currency="USD")
    await produce(stack.bootstrap, stack.topics["status"], [*backlog, (order, approved)])
    refund = command("refund", order, amount=500)  # no orderSessionKey: the order state's
    await send(stack, refund)

    [answer] = (await answers(stack, refund["commandId"]))[refund["commandId"]]
    assert answer["status"] == "REFUNDED", answer
    assert (answer["detail"]["refundedAmount"], answer["detail"]["refundableAmount"]) == (500, 1000)
    [call] = await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{session}/refund")
    assert call["body"]["amountToRefund"] == 5.0
