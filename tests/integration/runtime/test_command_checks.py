"""Command checks end to end: real broker, real worker process, sandbox over HTTP. Refunds of one
amount by distinct commands are distinct refunds at Flex, and the sandbox's own books agree with
every REFUNDED flexbridge publishes."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Stack
from tests.flows import ready
from tests.integration.runtime.test_commands import answers, approved_order, command, order_state, send

pytestmark = pytest.mark.integration


async def test_refunds_of_one_amount_are_each_made_at_flex(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    order, session = await approved_order(stack, worker, 2000)

    refunds = [command("refund", order, amount=cents) for cents in (100, 1, 100, 100)]
    await send(stack, *refunds, refunds[-1])  # the last one delivered twice
    got = await answers(stack, *(r["commandId"] for r in refunds))
    assert [got[r["commandId"]][0]["status"] for r in refunds] == ["REFUNDED"] * 4
    assert got[refunds[-1]["commandId"]][0]["detail"]["refundedAmount"] == 301

    [flex_order] = [o for o in stack.sandbox.orders() if o["orderSessionKey"] == session]
    assert flex_order["refundedAmount"] == 301 and len(flex_order["refunds"]) == 4  # Flex agrees
    calls = await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{session}/refund")
    assert [c["body"]["refundMessage"] for c in calls] == [f"commandId {r['commandId']}" for r in refunds]
    state = await order_state(worker, order, "refunds recorded", lambda b: len(b["commands"]) == 4)
    assert (state["refundedAmount"], state["refundableAmount"]) == (301, 1699)
