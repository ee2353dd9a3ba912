"""Order state and commands end to end: real broker, real worker process (Faust table + agents),
sandbox over HTTP. Commands are checked against the order state, answered on orders.status, and
a command delivered twice makes one effect (the sandbox journal is the witness)."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from typing import Any

import httpx
import pytest

from streams.local.traffic import make_event
from tests.conftest import Stack, Worker
from tests.flows import ready
from tests.support import DEV_APP_KEY, DEV_APP_SECRET, produce, read_all, unique, values, wait_for

pytestmark = pytest.mark.integration


def decline(kind: str, order_id: str, amount: int) -> dict[str, Any]:
    event = make_event(kind, order_id, random.Random(order_id))
    assert isinstance(event, dict)
    event["transaction"]["amount"] = amount
    return event


def command(kind: str, order_id: str, **fields: Any) -> dict[str, Any]:
    return {"commandId": unique("cmd"), "type": kind, "orderId": order_id, **fields}


async def order_view(worker: Worker, order_id: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(f"{worker.url}/orders/{order_id}")
    if answer.headers.get("content-type", "").startswith("application/json"):
        return answer.status_code, answer.json()
    return answer.status_code, {"text": answer.text}


async def order_state(
    worker: Worker, order_id: str, what: str, check: Any, timeout: float = 60
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        code, body = await order_view(worker, order_id)
        return body if code == 200 and check(body) else None

    return await wait_for(probe, timeout, f"order {order_id}: {what}")


async def answers(stack: Stack, *command_ids: str) -> dict[str, list[dict[str, Any]]]:
    """The command answers on orders.status, once every one of ``command_ids`` has one."""

    async def probe() -> dict[str, list[dict[str, Any]]] | None:
        found: dict[str, list[dict[str, Any]]] = {}
        for status in values(await read_all(stack.bootstrap, stack.topics["status"])):
            if status["source"] == "command":
                found.setdefault(status["eventId"], []).append(status)
        return found if all(c in found for c in command_ids) else None

    return await wait_for(probe, 60, f"answers to {command_ids}")


async def send(stack: Stack, *commands: dict[str, Any]) -> None:
    await produce(stack.bootstrap, stack.topics["commands"], [(c["orderId"], c) for c in commands])


async def test_refunds_are_checked_against_what_is_left_and_a_duplicate_refunds_once(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    order = unique("ORD")
    await produce(stack.bootstrap, stack.topics["declined"], [(order, decline("cit-approved", order, 2000))])
    state = await order_state(worker, order, "APPROVED", lambda b: b["status"] == "APPROVED")
    session = state["orderSessionKey"]

    first = command("refund", order, amount=500, message="damaged")
    second = command("refund", order, amount=600, orderSessionKey=session)
    too_much = command("refund", order, amount=1000)  # 900 left
    cancel = command("cancel", order)
    await send(stack, first, first, second, too_much, cancel)  # the first one delivered twice
    got = await answers(
        stack, first["commandId"], second["commandId"], too_much["commandId"], cancel["commandId"]
    )

    assert [a["status"] for a in got[first["commandId"]]] == ["REFUNDED", "REFUNDED"]
    assert got[first["commandId"]][0]["detail"] == got[first["commandId"]][1]["detail"]
    assert got[second["commandId"]][0]["detail"]["refundedAmount"] == 1100
    rejected = got[too_much["commandId"]][0]
    assert (
        rejected["status"] == "REJECTED"
        and "above the remaining refundable amount 9.00" in rejected["reason"]
    )
    assert got[cancel["commandId"]][0]["status"] == "REJECTED"
    assert "can no longer be cancelled" in got[cancel["commandId"]][0]["reason"]

    refunds = await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{session}/refund")
    assert [c["body"]["amountToRefund"] for c in refunds] == [5.0, 6.0]  # one effect per command
    assert not await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{session}/cancel")
    [flex_order] = [o for o in stack.sandbox.orders() if o["orderSessionKey"] == session]
    assert flex_order["refundedAmount"] == 1100

    state = await order_state(worker, order, "refunds recorded", lambda b: len(b["commands"]) == 4)
    assert (state["status"], state["refundedAmount"], state["refundableAmount"]) == ("APPROVED", 1100, 900)

    rest = command("refund", order)  # no amount: whatever is left
    await send(stack, rest)
    got = await answers(stack, rest["commandId"])
    assert got[rest["commandId"]][0]["detail"]["fullyRefunded"] is True
    state = await order_state(worker, order, "fully refunded", lambda b: b["status"] == "REFUNDED")
    assert state["refundableAmount"] == 0

    shown = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        "order",
        order,
        "--url",
        worker.url,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await shown.communicate()
    assert shown.returncode == 0 and b"REFUNDED" in out and b"refunded      20.00" in out
    unknown = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        "order",
        "ORD-nobody",
        "--url",
        worker.url,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await unknown.communicate()
    assert unknown.returncode == 1 and b"unknown order ORD-nobody" in err

    worker.process.proc.send_signal(signal.SIGUSR1)  # the dump for a worker that makes no progress
    topic = stack.topics["commands"]
    line = f"Faust consumer {topic}/\\d: handed out, position \\d+, last handed out \\d+, committed through"
    await asyncio.to_thread(worker.process.wait_line, line, 10)
    await asyncio.to_thread(worker.process.wait_line, "task .* waits in", 1)


async def evaluate_behind_the_bridge(stack: Stack, order_id: str) -> str:
    """An order Flex has but flexbridge never saw (its /evaluate answer was lost)."""
    body = decline("mit-rebill", order_id, 1500)
    body.update(isDeclined=True, idempotencyKey=unique("k"), mid=stack.env["FLEXBRIDGE_FLEX__MID"])
    body["expiryDateUtc"] = "2030-01-01T00:00:00Z"  # managed MIT: SUBMITTED, cancellable
    async with httpx.AsyncClient(base_url=stack.sandbox.url, timeout=10) as http:
        token = (
            await http.post("oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET})
        ).json()
        headers = {"Authorization": f"Bearer {token['accessToken']}"}
        answer = await http.post("evaluate", json=body, headers=headers)
    assert answer.json()["status"] == "SUBMITTED"
    return str(answer.json()["orderSessionKey"])


async def test_capture_cancel_malformed_commands_and_illegal_transitions(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    held, voided, lost = unique("ORD"), unique("ORD"), unique("ORD")
    events = [(o, decline("cit-capture", o, 3000)) for o in (held, voided)]
    await produce(stack.bootstrap, stack.topics["declined"], events)
    for o in (held, voided):
        await order_state(worker, o, "CAPTUREREQUIRED", lambda b: b["status"] == "CAPTUREREQUIRED")
    lost_session = await evaluate_behind_the_bridge(stack, lost)

    wrong = command("capture", held, amount=2999, currency="USD")
    capture = command("capture", held, amount=3000, currency="USD")
    cancel, again = command("cancel", voided), command("cancel", voided)
    refund_voided = command("refund", voided, amount=100)
    external = command("cancel", lost)
    await send(stack, wrong, capture, capture, cancel, again, refund_voided, external)
    await produce(
        stack.bootstrap,
        stack.topics["commands"],
        [(held, b"{not json"), (held, {"orderId": held, "type": "explode"})],
    )
    ids = [c["commandId"] for c in (wrong, capture, cancel, again, refund_voided, external)]
    got = await answers(stack, *ids)

    assert "must equal the authorised amount 30.00" in got[wrong["commandId"]][0]["reason"]
    assert [a["status"] for a in got[capture["commandId"]]] == ["APPROVED", "APPROVED"]
    assert got[cancel["commandId"]][0]["status"] == "CANCELLED"
    assert got[again["commandId"]][0]["detail"]["alreadyCancelled"] is True
    assert "only an approved (settled) order can be refunded" in got[refund_voided["commandId"]][0]["reason"]
    assert (
        got[external["commandId"]][0]["status"] == "CANCELLED"
        and got[external["commandId"]][0]["detail"]["external"]
    )

    captures = await asyncio.to_thread(stack.sandbox.journal, "/v1/capture")
    assert len(captures) == 1 and captures[0]["body"]["amount"] == 3000  # the duplicate made no call
    assert len(await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{lost}/external-cancel")) == 1
    [lost_order] = [o for o in stack.sandbox.orders() if o["orderSessionKey"] == lost_session]
    assert lost_order["status"] == "CANCELLED"

    async def malformed() -> list[Any] | None:
        dlq = await read_all(stack.bootstrap, stack.topics["dlq"])
        statuses = values(await read_all(stack.bootstrap, stack.topics["status"]))
        bad = [s for s in statuses if s["orderId"] == held and "malformed command" in (s["reason"] or "")]
        return [dlq, bad] if dlq and bad else None

    dlq, bad = await wait_for(malformed, 30, "the malformed commands to be answered")
    assert dict(dlq[0].headers)["dlq-reason"] == b"schema" and dlq[0].value == b"{not json"
    assert bad[0]["status"] == "REJECTED" and "type" in bad[0]["reason"]

    # Flex says the order expired after it was captured: out of order, recorded and flagged, not applied.
    late = {
        "orderId": held,
        "status": "EXPIRED",
        "source": "webhook",
        "eventId": unique("wh"),
        "occurredAt": "2030-01-01T00:00:00Z",
    }
    await produce(stack.bootstrap, stack.topics["status"], [(held, late)])
    state = await order_state(worker, held, "flagged", lambda b: b["flagged"])
    assert state["status"] == "APPROVED" and state["capturedAmount"] == 3000
    assert state["history"][-1]["verdict"] == "illegal" and "APPROVED → EXPIRED" in state["flags"][0]
    code, _ = await order_view(worker, "ORD-nobody")
    assert code == 404
