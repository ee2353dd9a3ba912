"""The FlexClient against the sandbox: /evaluate, /tokenize, /transmit outcomes, validation, idempotency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from consumers.flex.client import FlexClient, FlexConflict, FlexRejected
from sandbox import DEV_MID
from sandbox.samples import evaluate_body, tokenize_body, transmit_body
from tests.integration.flex.support import EVALUATE, Admin

pytestmark = pytest.mark.integration


OUTCOMES = [
    pytest.param({"phone": "+99.2001a"}, "CHALLENGE", 1, "cit-challenge-phone", id="challenge"),
    pytest.param(
        {"transaction_type": "Authorization", "phone": "998888"},
        "CAPTUREREQUIRED",
        5,
        "authorization-capture-required",
        id="capture-required",
    ),
    pytest.param({"phone": None, "cvv": None}, "DECLINED", 3, "cit-no-phone-no-cvv", id="declined-no-phone"),
    pytest.param({"card_last4": "2220"}, "DECLINED", 3, "cit-decline", id="declined-card"),
    pytest.param(
        {"is_mit": True, "expiry_date_utc": "2026-12-15T00:00:00Z"},
        "SUBMITTED",
        4,
        "managed-mit",
        id="managed-mit",
    ),
    pytest.param({"is_mit": True}, "APPROVED", 7, "mit-approve", id="mit"),
    pytest.param({}, "APPROVED", 7, "cit-approve-listed-card", id="listed-card"),
]


@pytest.mark.parametrize(("knobs", "status", "code", "rule"), OUTCOMES)
async def test_default_outcome_rules(
    flex: FlexClient, admin: Admin, knobs: dict[str, Any], status: str, code: int, rule: str
) -> None:
    body = evaluate_body(**knobs)
    answer = await flex.evaluate(body)

    assert answer.status == status
    assert answer.success is True and answer.result == "Success"
    assert answer.order_session_key and answer.order_id == answer.order_session_key
    order = await flex.get_order(answer.order_session_key)
    assert (order.id, order.status, order.status_label) == (answer.order_session_key, code, status)
    if "expiry_date_utc" in knobs:
        assert order.expiry_date == datetime.fromisoformat("2026-12-15T00:00:00+00:00")
    (recorded,) = await admin.orders(body["orderId"])
    assert (recorded["orderSessionKey"], recorded["status"], recorded["rule"]) == (
        answer.order_session_key,
        status,
        rule,
    )
    assert (await flex.outcome(answer.order_session_key)).status == status


@pytest.mark.parametrize(
    ("number", "status"), [("4111111111111111", "APPROVED"), ("4000300011112220", "DECLINED")]
)
async def test_tokenized_card_decides_the_outcome(
    flex: FlexClient, admin: Admin, number: str, status: str
) -> None:
    card = tokenize_body(number)["payment_method"]["credit_card"]
    token = await flex.tokenize(card, email="cure@example.com")
    answer = await flex.evaluate(evaluate_body(card_last4=None, card_token=token))

    assert answer.status == status
    (call,) = await admin.journal("/v1/tokenize")
    assert call["status"] == 200
    assert call["query"] == {"mid": DEV_MID, "environment": "sandbox-tokenization-key"}
    assert number not in str(call["body"])  # the journal masks the card number
    assert call["body"]["payment_method"]["credit_card"]["number"].endswith(number[-4:])


async def test_transmit_creates_no_order(flex: FlexClient, admin: Admin) -> None:
    answer = await flex.transmit(transmit_body())
    assert (answer.result, answer.success) == ("success", True)
    assert answer.transmit_id
    assert await admin.orders() == []


def _drop_response_code(body: dict[str, Any]) -> None:
    del body["transaction"]["responseCode"]


def _drop_order_id(body: dict[str, Any]) -> None:
    del body["orderId"]


def _tiny_amount(body: dict[str, Any]) -> None:
    body["transaction"]["amount"] = 5


def _mistyped_mit(body: dict[str, Any]) -> None:
    body["isMIT"] = "yes"


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (_drop_response_code, "Transaction.ResponseCode"),
        (_drop_order_id, "OrderId"),
        (_tiny_amount, "Transaction.Amount"),
        (_mistyped_mit, "IsMIT"),
    ],
)
async def test_invalid_evaluate_is_rejected_at_once(
    flex: FlexClient, admin: Admin, spoil: Callable[[dict[str, Any]], None], field: str
) -> None:
    body = evaluate_body()
    spoil(body)
    with pytest.raises(FlexRejected) as info:
        await flex.evaluate(body)

    error = info.value
    assert type(error) is FlexRejected
    assert error.status_code == 400
    assert error.retriable is False
    assert field in error.errors and "TraceId" in error.errors
    assert field in str(error) and error.endpoint == "POST /v1/evaluate"
    assert [e["status"] for e in await admin.journal(EVALUATE)] == [400]  # not retried
    assert await admin.orders() == []


async def test_same_key_same_body_replays_the_order(flex: FlexClient, admin: Admin) -> None:
    body = evaluate_body()
    first = await flex.evaluate(body)
    second = await flex.evaluate(dict(body))

    assert second.order_session_key == first.order_session_key
    assert second.status == first.status
    journal = await admin.journal(EVALUATE)
    assert [(e["status"], e["replayed"]) for e in journal] == [(200, False), (200, True)]
    assert len(await admin.orders()) == 1


async def test_same_key_different_body_conflicts(flex: FlexClient, admin: Admin) -> None:
    body = evaluate_body()
    first = await flex.evaluate(body)
    changed = {**body, "transaction": {**body["transaction"], "amount": 2999}}
    with pytest.raises(FlexConflict) as info:
        await flex.evaluate(changed)

    assert info.value.status_code == 409
    assert info.value.endpoint == "POST /v1/evaluate"
    (order,) = await admin.orders()
    assert (order["orderSessionKey"], order["amount"]) == (first.order_session_key, 1999)
    assert [e["status"] for e in await admin.journal(EVALUATE)] == [200, 409]
