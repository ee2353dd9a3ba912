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

from streams.local.stack import metric_total
from streams.local.traffic import make_event
from tests.conftest import Stack, Worker
from tests.flows import ready
from tests.support import DEV_APP_KEY, DEV_APP_SECRET, produce, read_all, unique, values, wait_for

pytestmark = pytest.mark.integration

Answers = dict[str, list[dict[str, Any]]]


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


async def answers(stack: Stack, *command_ids: str, each: int = 1) -> Answers:
    """The command answers on orders.status, once every one of ``command_ids`` has ``each``."""

    async def probe() -> Answers | None:
        found: Answers = {}
        for status in values(await read_all(stack.bootstrap, stack.topics["status"])):
            if status["source"] == "command":
                found.setdefault(status["eventId"], []).append(status)
        return found if all(len(found.get(c, ())) >= each for c in command_ids) else None

    return await wait_for(probe, 60, f"answers to {command_ids}")


async def send(stack: Stack, *commands: dict[str, Any]) -> None:
    await produce(stack.bootstrap, stack.topics["commands"], [(c["orderId"], c) for c in commands])


def first_answer(got: Answers, sent: dict[str, Any]) -> dict[str, Any]:
    return got[sent["commandId"]][0]


async def approved_order(stack: Stack, worker: Worker, amount: int) -> tuple[str, str]:
    """An order flexbridge rescued (APPROVED): its order id and Flex order session key."""
    order = unique("ORD")
    await produce(
        stack.bootstrap, stack.topics["declined"], [(order, decline("cit-approved", order, amount))]
    )
    state = await order_state(worker, order, "APPROVED", lambda b: b["status"] == "APPROVED")
    return order, state["orderSessionKey"]


def assert_refund_answers(
    got: Answers,
    first: dict[str, Any],
    second: dict[str, Any],
    too_much: dict[str, Any],
    cancel: dict[str, Any],
) -> None:
    assert [a["status"] for a in got[first["commandId"]]] == ["REFUNDED", "REFUNDED"]
    assert got[first["commandId"]][0]["detail"] == got[first["commandId"]][1]["detail"]
    assert first_answer(got, second)["detail"]["refundedAmount"] == 1100
    rejected = first_answer(got, too_much)
    assert (
        rejected["status"] == "REJECTED"
        and "above the remaining refundable amount 9.00" in rejected["reason"]
    )
    assert first_answer(got, cancel)["status"] == "REJECTED"
    assert "can no longer be cancelled" in first_answer(got, cancel)["reason"]


async def assert_one_flex_refund_per_command(stack: Stack, session: str) -> None:
    refunds = await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{session}/refund")
    assert [c["body"]["amountToRefund"] for c in refunds] == [5.0, 6.0]  # one effect per command
    assert not await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{session}/cancel")
    [flex_order] = [o for o in stack.sandbox.orders() if o["orderSessionKey"] == session]
    assert flex_order["refundedAmount"] == 1100


async def refund_the_rest(stack: Stack, worker: Worker, order: str) -> None:
    rest = command("refund", order)  # no amount: whatever is left
    await send(stack, rest)
    got = await answers(stack, rest["commandId"])
    assert first_answer(got, rest)["detail"]["fullyRefunded"] is True
    state = await order_state(worker, order, "fully refunded", lambda b: b["status"] == "REFUNDED")
    assert state["refundableAmount"] == 0


async def order_cli(worker: Worker, order_id: str) -> tuple[int | None, bytes, bytes]:
    """``flexbridge order ORDER_ID --url WORKER``: exit code, stdout, stderr."""
    shown = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "streams.cli", "order", order_id, "--url", worker.url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await shown.communicate()
    return shown.returncode, out, err


async def assert_the_dump_shows_the_command_consumer(stack: Stack, worker: Worker) -> None:
    worker.process.proc.send_signal(signal.SIGUSR1)  # the dump for a worker that makes no progress
    topic = stack.topics["commands"]
    line = f"Faust consumer {topic}/\\d: handed out, position \\d+, last handed out \\d+, committed through"
    await asyncio.to_thread(worker.process.wait_line, line, 10)
    await asyncio.to_thread(worker.process.wait_line, "task .* waits in", 1)


async def test_refunds_are_checked_against_what_is_left_and_a_duplicate_refunds_once(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    order, session = await approved_order(stack, worker, 2000)
    _, state = await order_view(worker, order)  # the /evaluate answer's status told the amount
    assert (state["authorisedAmount"], state["currency"], state["refundableAmount"]) == (2000, "USD", 2000)

    first = command("refund", order, amount=500, message="damaged")
    second = command("refund", order, amount=600, orderSessionKey=session)
    too_much = command("refund", order, amount=1000)  # 900 left
    cancel = command("cancel", order)
    await send(stack, first, first, second, too_much, cancel)  # the first one delivered twice
    got = await answers(
        stack, first["commandId"], second["commandId"], too_much["commandId"], cancel["commandId"]
    )
    assert_refund_answers(got, first, second, too_much, cancel)
    await assert_one_flex_refund_per_command(stack, session)
    # checked against the amount the order state had; Flex's order was read once, for the refund
    # refused on amounts (only Flex's figures refuse one)
    reads = await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{session}")
    assert [call["method"] for call in reads] == ["GET"]

    state = await order_state(worker, order, "refunds recorded", lambda b: len(b["commands"]) == 4)
    assert (state["status"], state["refundedAmount"], state["refundableAmount"]) == ("APPROVED", 1100, 900)
    await refund_the_rest(stack, worker, order)

    code, out, _ = await order_cli(worker, order)
    assert code == 0 and b"REFUNDED" in out and b"refunded      20.00 USD" in out
    assert b"authorised    20.00 USD" in out
    code, _, err = await order_cli(worker, "ORD-nobody")
    assert code == 1 and b"unknown order ORD-nobody: not seen, or final" in err
    await assert_the_dump_shows_the_command_consumer(stack, worker)


async def evaluate_behind_the_bridge(stack: Stack, order_id: str, kind: str = "mit-rebill") -> str:
    """An order Flex has but flexbridge never saw (its /evaluate answer was lost): a managed MIT,
    SUBMITTED and cancellable, or (``kind="cit-approved"``) an APPROVED one, refundable."""
    body = decline(kind, order_id, 1500)
    body.update(isDeclined=True, idempotencyKey=unique("k"), mid=stack.env["FLEXBRIDGE_FLEX__MID"])
    if kind == "mit-rebill":
        body["expiryDateUtc"] = "2030-01-01T00:00:00Z"  # managed MIT: SUBMITTED, cancellable
    async with httpx.AsyncClient(base_url=stack.sandbox.url, timeout=10) as http:
        token = (
            await http.post("oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET})
        ).json()
        headers = {"Authorization": f"Bearer {token['accessToken']}"}
        answer = await http.post("evaluate", json=body, headers=headers)
    assert answer.json()["status"] == ("SUBMITTED" if kind == "mit-rebill" else "APPROVED")
    return str(answer.json()["orderSessionKey"])


async def capture_required_orders(stack: Stack, worker: Worker, *orders: str) -> None:
    events: list[tuple[str | None, Any]] = [(o, decline("cit-capture", o, 3000)) for o in orders]
    await produce(stack.bootstrap, stack.topics["declined"], events)
    for o in orders:
        await order_state(worker, o, "CAPTUREREQUIRED", lambda b: b["status"] == "CAPTUREREQUIRED")


async def assert_one_flex_effect_per_command(stack: Stack, lost: str, lost_session: str) -> None:
    captures = await asyncio.to_thread(stack.sandbox.journal, "/v1/capture")
    assert len(captures) == 1 and captures[0]["body"]["amount"] == 3000  # the duplicate made no call
    assert len(await asyncio.to_thread(stack.sandbox.journal, f"/v1/orders/{lost}/external-cancel")) == 1
    [lost_order] = [o for o in stack.sandbox.orders() if o["orderSessionKey"] == lost_session]
    assert lost_order["status"] == "CANCELLED"


async def assert_malformed_commands_are_dead_lettered_and_rejected(
    stack: Stack, worker: Worker, held: str
) -> None:
    async def malformed() -> list[Any] | None:
        dlq = await read_all(stack.bootstrap, stack.topics["dlq"])
        statuses = values(await read_all(stack.bootstrap, stack.topics["status"]))
        bad = [s for s in statuses if s["orderId"] == held and "malformed command" in (s["reason"] or "")]
        return [dlq, bad] if dlq and bad else None

    dlq, bad = await wait_for(malformed, 30, "the malformed commands to be answered")
    assert dict(dlq[0].headers)["dlq-reason"] == b"schema" and dlq[0].value == b"{not json"
    assert bad[0]["status"] == "REJECTED" and "type" in bad[0]["reason"]
    assert await metric_total(worker.url, "flexbridge_dlq_total", reason="schema") == len(dlq)  # once each


async def assert_a_late_expiry_is_flagged_not_applied(stack: Stack, worker: Worker, held: str) -> None:
    """Flex says the order expired after it was captured: out of order, recorded and flagged."""
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


async def test_capture_cancel_malformed_commands_and_illegal_transitions(stack: Stack) -> None:
    worker = stack.worker()
    await ready(worker)
    held, voided, lost = unique("ORD"), unique("ORD"), unique("ORD")
    await capture_required_orders(stack, worker, held, voided)
    lost_session = await evaluate_behind_the_bridge(stack, lost)

    wrong = command("capture", held, amount=2999, currency="USD")
    capture = command("capture", held, amount=3000, currency="USD")
    cancel, again = command("cancel", voided), command("cancel", voided)
    refund_voided = command("refund", voided, amount=100)
    external = command("cancel", lost)
    await send(stack, wrong, capture, capture, cancel, again, refund_voided, external)
    malformed: list[tuple[str | None, Any]] = [
        (held, b"{not json"),
        (held, {"orderId": held, "type": "explode"}),
    ]
    await produce(stack.bootstrap, stack.topics["commands"], malformed)
    ids = [c["commandId"] for c in (wrong, capture, cancel, again, refund_voided, external)]
    got = await answers(stack, *ids)

    assert "must equal the authorised amount 30.00" in first_answer(got, wrong)["reason"]
    assert [a["status"] for a in got[capture["commandId"]]] == ["APPROVED", "APPROVED"]
    assert first_answer(got, cancel)["status"] == "CANCELLED"
    assert first_answer(got, again)["detail"]["alreadyCancelled"] is True
    assert "only an approved (settled) order can be refunded" in first_answer(got, refund_voided)["reason"]
    assert (
        first_answer(got, external)["status"] == "CANCELLED"
        and first_answer(got, external)["detail"]["external"]
    )

    await assert_one_flex_effect_per_command(stack, lost, lost_session)
    await assert_malformed_commands_are_dead_lettered_and_rejected(stack, worker, held)
    await assert_a_late_expiry_is_flagged_not_applied(stack, worker, held)
    code, _ = await order_view(worker, "ORD-nobody")
    assert code == 404
