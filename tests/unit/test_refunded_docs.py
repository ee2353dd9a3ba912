"""docs/consumers.md says which REFUNDED status carries which ``detail`` fields: checked against
the statuses the code publishes for a refund command and for Flex's ``order.refunded`` webhook."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from consumers.commands import run_command
from consumers.reconcile import Candidate, reconcile_status
from schemas.commands import OrderCommand
from schemas.flex import OrderDetails, RefundResponse
from schemas.order_state import OrderState
from schemas.webhooks import order_status, parse_webhook

ROOT = Path(__file__).resolve().parents[2]
AMOUNTS = {"amount", "refundedAmount", "refundableAmount", "fullyRefunded"}


def documented() -> dict[str, set[str]]:
    """source → the ``detail`` fields the table under "REFUNDED statuses" lists for it."""
    text = (ROOT / "docs" / "consumers.md").read_text()
    section = text.split("### REFUNDED statuses", 1)[1].split("\n#", 1)[0]  # to the next heading
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    return {row[0].strip(" `"): set(re.findall(r"`([A-Za-z]+)`", row[2])) for row in rows}


class Flex:
    async def refund(self, key: str, cents: int, message: str | None = None) -> RefundResponse:
        return RefundResponse.model_validate({"status": "SUCCESS", "transactionId": "t1"})


async def command_refunded() -> dict[str, Any]:
    state = OrderState(order_id="O1", order_session_key="s1", status="APPROVED", currency="USD")
    state = state.model_copy(update={"authorised_amount": 1000, "mid": "m1"})
    command = OrderCommand.model_validate(
        {"commandId": "c1", "type": "refund", "orderId": "O1", "amount": 100, "mid": "m1"}
    )
    outcome = await run_command(command, state, Flex())  # type: ignore[arg-type]
    assert outcome.answer.status == "REFUNDED"
    return outcome.answer.detail


def webhook_refunded() -> dict[str, Any]:
    body = {
        "Event": "order.refunded",
        "EventData": {"Amount": 100, "Currency": "USD"},  # as the sandbox sends it
        "ExternalOrderId": "O1",
        "OrderId": "s1",
        "ConfirmationId": "22ACD1D9",
    }
    status = order_status(parse_webhook(orjson.dumps(body)), "m1")
    assert status is not None and status.status == "REFUNDED"
    return status.detail


def reconcile_refunded() -> dict[str, Any]:
    """A batch record without a result, which Flex shows refunded when asked."""
    order = Candidate("O1", "FAILED", None, first_news=0.0, last_news=0.0, mid="m1")
    answer = OrderDetails.model_validate({"id": "s1", "statusName": "REFUNDED", "status": 5})
    status = reconcile_status(order, answer, "REFUNDED")
    assert status is not None and status.status == "REFUNDED"
    return status.detail


async def test_the_documented_fields_are_those_each_refunded_status_carries() -> None:
    docs = documented()
    assert set(docs) == {"command", "webhook", "reconcile"}
    assert docs["command"] == set(await command_refunded())
    assert docs["webhook"] == set(webhook_refunded())
    assert docs["reconcile"] == set(reconcile_refunded())
    assert AMOUNTS <= docs["command"] and not AMOUNTS & (docs["webhook"] | docs["reconcile"])
