"""Command checks end to end: real broker, real worker process, sandbox over HTTP. Refunds of one
amount by distinct commands are distinct refunds at Flex, and the sandbox's own books agree with
every REFUNDED flexbridge publishes; a command's orderSessionKey must be its order's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schemas.status import status_of
from tests.conftest import Stack
from tests.flows import ready
from tests.integration.runtime.test_commands import (
    answers,
    approved_order,
    capture_required_orders,
    command,
    evaluate_behind_the_bridge,
    order_state,
    send,
)
from tests.support import produce, unique, wait_for

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


async def test_a_command_key_of_another_order_is_refused_and_nothing_is_refunded(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    (order, session), (other, other_session) = [await approved_order(stack, worker, 2000) for _ in "ab"]
    lost = unique("ORD")
    lost_session = await evaluate_behind_the_bridge(stack, lost)  # Flex has it, flexbridge never saw it

    wrong_key = command("refund", order, amount=100, orderSessionKey=other_session)
    ghost = command("refund", unique("ORD-ghost"), amount=100, orderSessionKey=session)
    lost_by_other_key = command("cancel", lost, orderSessionKey=session)
    lost_by_key = command("cancel", lost, orderSessionKey=lost_session)
    sent = (wrong_key, ghost, lost_by_other_key, lost_by_key)
    await send(stack, *sent)
    got = await answers(stack, *(c["commandId"] for c in sent))
    wrong, ghosted, other_cancel, cancelled = (got[c["commandId"]][0] for c in sent)

    assert wrong["status"] == "REJECTED" and wrong["orderSessionKey"] == session, wrong
    assert f"the command's orderSessionKey is not the one of order {order}" in wrong["reason"]
    assert ghosted["status"] == "REJECTED" and ghosted["orderSessionKey"] is None, ghosted
    assert "Flex's order of the command's orderSessionKey is not merchant mid" in ghosted["reason"]
    for answer in (wrong, ghosted, other_cancel):  # the keys given are not quoted
        assert session not in answer["reason"] and other_session not in answer["reason"], answer
    assert other_cancel["status"] == "REJECTED" and "orderSessionKey-mismatch" in other_cancel["reason"]
    assert cancelled["status"] == "CANCELLED" and cancelled["orderSessionKey"] == lost_session, cancelled

    for key in (session, other_session):  # neither order was refunded nor cancelled
        assert not await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{key}/refund")
        assert not await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{key}/cancel")
    flex_orders = {o["orderSessionKey"]: o for o in stack.sandbox.orders()}
    assert flex_orders[session]["refundedAmount"] == flex_orders[other_session]["refundedAmount"] == 0
    assert flex_orders[lost_session]["status"] == "CANCELLED"
    state = await order_state(worker, other, "untouched", lambda b: b["status"] == "APPROVED")
    assert state["refundedAmount"] == 0 and not state["commands"]


async def test_a_command_id_used_again_for_another_order_is_refused_by_flex_and_answered_rejected(
    stack: Stack,
) -> None:
    """``cancel`` and ``capture`` carry the UUIDv5 of the commandId as Flex's idempotency key: the same
    commandId on another order is another body under a used key, which Flex refuses (409). The
    command is answered REJECTED, saying why, and the second order is left as it was."""
    worker = stack.worker()
    await ready(worker)
    first, second = unique("ORD"), unique("ORD")
    await capture_required_orders(stack, worker, first, second)
    capture = command("capture", first)
    await send(stack, capture)
    [done] = (await answers(stack, capture["commandId"]))[capture["commandId"]]
    reused = {**command("capture", second), "commandId": capture["commandId"]}
    await send(stack, reused)

    async def second_answer() -> dict[str, Any] | None:
        got = (await answers(stack, capture["commandId"]))[capture["commandId"]]
        return next((a for a in got if a["orderId"] == second), None)

    refused = await wait_for(second_answer, 60, "the reused commandId's answer")
    assert done["status"] == "APPROVED" and refused["status"] == "REJECTED", refused
    assert f"commandId {capture['commandId']} was sent before with another request" in refused["reason"]
    assert refused["detail"]["httpStatus"] == 409 and "IdempotencyKeyConflict" in refused["detail"]["errors"]
    calls = await asyncio.to_thread(stack.sandbox.journal, "/v1/capture")
    assert [c["status"] for c in calls] == [200, 409], calls  # one capture made: the first order's
    state = await order_state(worker, second, "the refusal recorded", lambda b: b["commands"])
    assert state["status"] == "CAPTUREREQUIRED" and state["capturedAmount"] == 0, state


async def test_a_refund_made_whose_answer_was_lost_is_answered_refunded_when_sent_again(stack: Stack) -> None:
    """Flex makes the refund but its answers are lost until the command is answered FAILED; another
    refund of the order is refused meanwhile; sent again, the command repeats the identical call
    (Flex: a repeat) and is answered REFUNDED, though Flex's figures now show the order fully
    refunded (checked afresh: "nothing left to refund")."""
    worker = stack.worker(FLEXBRIDGE_FLEX__DEADLINE_SECONDS="3")
    await ready(worker)
    order = unique("ORD")
    session = await evaluate_behind_the_bridge(stack, order, "cit-approved")  # flexbridge never saw it
    stack.sandbox.call("POST", "/_sandbox/faults", {"afterEffectRate": 1.0, "paths": ["/v1/orders/*/refund"]})
    whole = command("refund", order, orderSessionKey=session)  # no amount: all that is left
    await send(stack, whole)
    [failed] = (await answers(stack, whole["commandId"]))[whole["commandId"]]
    assert failed["status"] == "FAILED", failed
    [flex_order] = [o for o in stack.sandbox.orders() if o["orderSessionKey"] == session]
    assert flex_order["refundedAmount"] == 1500  # made, answers lost

    stack.sandbox.call("DELETE", "/_sandbox/faults")
    another = command("refund", order, amount=100)  # would become Flex's last refund: refused
    await send(stack, another)
    [refused] = (await answers(stack, another["commandId"]))[another["commandId"]]
    assert refused["status"] == "REJECTED" and refused["reason"].startswith("refund-in-doubt: "), refused
    await send(stack, whole)  # as docs/consumers.md says of FAILED: resend the same command
    failed_then, again = (await answers(stack, whole["commandId"], each=2))[whole["commandId"]]
    assert failed_then == failed
    assert again["status"] == "REFUNDED", again
    assert again["detail"]["resent"] is True and again["detail"]["refundedAmount"] == 1500
    [flex_order] = [o for o in stack.sandbox.orders() if o["orderSessionKey"] == session]
    assert flex_order["refundedAmount"] == 1500 and len(flex_order["refunds"]) == 1  # refunded once
    recorded = await order_state(worker, order, "recorded", lambda b: whole["commandId"] in b["commands"])
    assert recorded["callsSent"] == {} and recorded["refundableAmount"] == 0


async def test_a_capture_made_whose_order_moved_on_is_answered_approved_when_sent_again(stack: Stack) -> None:
    """Flex captures but its answers are lost until the command is answered FAILED, and Flex's
    order.completed moves the order to APPROVED; sent again, the capture goes under its key (Flex
    answers it again) and is answered APPROVED, though checked afresh it would be refused."""
    worker = stack.worker(FLEXBRIDGE_FLEX__DEADLINE_SECONDS="3")
    await ready(worker)
    order = unique("ORD")
    await capture_required_orders(stack, worker, order)
    stack.sandbox.call("POST", "/_sandbox/faults", {"afterEffectRate": 1.0, "paths": ["/v1/capture"]})
    take = command("capture", order)
    await send(stack, take)
    [failed] = (await answers(stack, take["commandId"]))[take["commandId"]]
    assert failed["status"] == "FAILED", failed
    [flex_order] = [o for o in stack.sandbox.orders() if o["orderId"] == order]
    assert (flex_order["status"], flex_order["capturedAmount"]) == ("APPROVED", 3000)  # made, answers lost
    session = flex_order["orderSessionKey"]
    completed = status_of(order, "APPROVED", "webhook", f"order.completed:{session}", session_key=session)
    await produce(
        stack.bootstrap, stack.topics["status"], [(order, completed.model_dump(mode="json", by_alias=True))]
    )
    await order_state(worker, order, "APPROVED by the webhook", lambda b: b["status"] == "APPROVED")

    stack.sandbox.call("DELETE", "/_sandbox/faults")
    await send(stack, take)
    failed_then, again = (await answers(stack, take["commandId"], each=2))[take["commandId"]]
    assert failed_then == failed
    assert again["status"] == "APPROVED" and again["detail"]["resent"] is True, again
    calls = await asyncio.to_thread(stack.sandbox.journal, "/v1/capture")
    assert len({c["body"]["idempotencyKey"] for c in calls}) == 1 and calls[-1].get("replayed")
    [flex_order] = [o for o in stack.sandbox.orders() if o["orderId"] == order]
    assert [h["action"] for h in flex_order["history"]].count("capture") == 1  # captured once
