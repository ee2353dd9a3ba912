"""The sandbox's order calls over real HTTP: GET/list, outcome, capture, refund, cancel."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from sandbox import RunningSandbox
from sandbox.samples import evaluate_body

pytestmark = pytest.mark.integration

AUTHORIZE = {"transaction_type": "AUTHORIZATION", "phone": "998888", "card_last4": "3184"}
MANAGED_MIT = {"is_mit": True, "expiry_date_utc": "2030-05-01T00:00:00Z"}


async def place(client: httpx.AsyncClient, **knobs: Any) -> dict[str, Any]:
    answer = await client.post("evaluate", json=evaluate_body(**knobs))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def order(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    answer = await client.get(f"orders/{key}")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def capture_body(key: str, amount: int, idempotency_key: str | None = None) -> dict[str, Any]:
    return {
        "idempotencyKey": idempotency_key or str(uuid.uuid4()),
        "orderId": key,
        "amount": amount,
        "currency": "USD",
    }


# --- GET /orders, /outcome -----------------------------------------------------------------------


async def test_get_order_fields(client: httpx.AsyncClient) -> None:
    placed = await place(client, order_id="ORD-7", amount=1250)
    body = await order(client, placed["orderSessionKey"])
    assert body["id"] == placed["orderSessionKey"]
    assert (body["status"], body["statusName"]) == (7, "APPROVED")
    assert body["externalOrderId"] == "ORD-7" and body["amount"] == 1250
    assert body["orderPlacedDate"].endswith("Z") and body["expiryDate"] is None
    assert body["firstName"] == "Cure" and body["billingAddress"]["addressLine1"] == "1 Main St"
    assert body["success"] is True
    assert (await client.get(f"orders/{uuid.uuid4()}")).status_code == 404


async def test_list_orders_pages_and_filters(client: httpx.AsyncClient) -> None:
    for amount in (1100, 1200, 1300):
        await place(client, amount=amount)
    await place(client, **AUTHORIZE)
    page = (await client.get("orders", params={"pageSize": 2, "orderBy": "amount", "sort": "asc"})).json()
    assert [item["amount"] for item in page["items"]] == [1100, 1200]
    assert page["totalItemCount"] == 4 and page["pageCount"] == 2
    assert page["hasNextPage"] is True and page["isFirstPage"] is True
    assert (page["firstItemOnPage"], page["lastItemOnPage"]) == (1, 2)
    only_auth = (await client.get("orders", params={"status": "5"})).json()
    assert [item["statusName"] for item in only_auth["items"]] == ["CAPTUREREQUIRED"]
    bad = await client.get("orders", params={"pageSize": "many"})
    assert bad.status_code == 400 and "pageSize" in bad.json()


async def test_outcome(client: httpx.AsyncClient) -> None:
    placed = await place(client, **MANAGED_MIT)
    known = (await client.post("outcome", json={"orderSessionKey": placed["orderSessionKey"]})).json()
    assert known["status"] == "SUBMITTED" and known["confirmationId"]
    unknown = (await client.post("outcome", json={"orderSessionKey": str(uuid.uuid4())})).json()
    assert unknown["status"] == "NOTFOUND"


# --- capture -------------------------------------------------------------------------------------


async def test_capture_flow(client: httpx.AsyncClient) -> None:
    placed = await place(client, amount=1999, **AUTHORIZE)
    key = placed["orderSessionKey"]
    assert (await order(client, key))["statusName"] == "CAPTUREREQUIRED"
    mismatch = await client.post("capture", json=capture_body(key, 1000))
    assert mismatch.status_code == 200
    assert (mismatch.json()["success"], mismatch.json()["status"]) == (False, "FAILED")
    assert (await order(client, key))["statusName"] == "CAPTUREREQUIRED"
    body = capture_body(key, 1999)
    done = await client.post("capture", json=body)
    assert (done.json()["success"], done.json()["status"]) == (True, "SUCCESS")
    assert (await client.post("capture", json=body)).json() == done.json()
    captured = await order(client, key)
    assert (captured["status"], captured["capturedAmount"]) == (7, 1999)
    again = await client.post("capture", json=capture_body(key, 1999))
    assert again.json()["status"] == "FAILED"


async def test_capture_validation_and_unknown(client: httpx.AsyncClient) -> None:
    missing = await client.post("capture", json={"orderId": str(uuid.uuid4()), "amount": 100})
    assert missing.status_code == 400
    assert set(missing.json()) == {"TraceId", "IdempotencyKey", "Currency"}
    unknown = await client.post("capture", json=capture_body(str(uuid.uuid4()), 100))
    assert unknown.status_code == 404


# --- refund ----------------------------------------------------------------------------------------


async def test_refund_limits_and_dedupe(client: httpx.AsyncClient) -> None:
    key = (await place(client, amount=1999, is_mit=True))["orderSessionKey"]
    over = await client.post(f"orders/{key}/refund", json={"amountToRefund": 20.00})
    assert over.status_code == 400
    message = "Amount to refund (20.00) is greater than maximum refund amount in (19.99))"
    assert over.json() == {
        "responseCode": "2001",
        "responseMessage": message,
        "transactionId": None,
        "success": False,
        "result": None,
        "status": "FAILED",
        "statusCode": None,
        "errors": [{"item1": message, "item2": "2001", "item3": "2001", "item4": True}],
        "customProperties": {},
    }
    first = await client.post(f"orders/{key}/refund", json={"amountToRefund": "5.00"})
    assert first.json()["status"] == "SUCCESS"
    repeat = await client.post(f"orders/{key}/refund", json={"amountToRefund": 5})
    assert repeat.json()["transactionId"] == first.json()["transactionId"]
    assert (await order(client, key))["refundedAmount"] == 500
    rest = await client.post(f"orders/{key}/refund", json={"amountToRefund": 14.99, "refundMessage": "rest"})
    assert rest.json()["success"] is True
    refunded = await order(client, key)
    assert (refunded["statusName"], refunded["status"], refunded["refundedAmount"]) == ("REFUNDED", 6, 1999)
    more = await client.post(f"orders/{key}/refund", json={"amountToRefund": 0.01})
    assert more.json()["responseMessage"].endswith("maximum refund amount in (0.00))")


async def test_refund_of_unsettled_order_refused(client: httpx.AsyncClient) -> None:
    key = (await place(client, card_last4="2220"))["orderSessionKey"]
    answer = await client.post(f"orders/{key}/refund", json={"amountToRefund": 1})
    assert answer.json()["responseCode"] == "2001"
    assert (await client.post(f"orders/{uuid.uuid4()}/refund", json={"amountToRefund": 1})).status_code == 404
    invalid = await client.post(f"orders/{key}/refund", json={"amountToRefund": "1.005"})
    assert invalid.status_code == 400 and "AmountToRefund" in invalid.json()


# --- cancel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knobs", "allowed"),
    [
        (AUTHORIZE, True),
        ({"card_last4": "1111"}, False),
        (MANAGED_MIT, True),
        ({"is_mit": True}, False),
        ({**AUTHORIZE, "is_mit": True}, True),
    ],
    ids=["cit-capturerequired", "cit-approved", "mit-submitted", "mit-approved", "mit-capturerequired"],
)
async def test_cancel_rules(client: httpx.AsyncClient, knobs: dict[str, Any], allowed: bool) -> None:
    key = (await place(client, **knobs))["orderSessionKey"]
    before = (await order(client, key))["statusName"]
    answer = await client.post(f"orders/{key}/cancel")
    if allowed:
        assert (answer.status_code, answer.json()) == (200, {})
        cancelled = await order(client, key)
        assert (cancelled["status"], cancelled["statusName"]) == (2, "CANCELLED")
    else:
        assert answer.status_code == 400 and answer.json()["success"] is False
        assert (await order(client, key))["statusName"] == before


async def test_cancel_and_external_cancel_collapse(
    client: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    key = (await place(client, order_id="EXT-1", **MANAGED_MIT))["orderSessionKey"]
    body = {"idempotencyKey": str(uuid.uuid4())}
    first = await client.post("orders/EXT-1/external-cancel", json=body)
    assert (first.status_code, first.json()) == (200, {})
    replay = await client.post(f"orders/{key}/cancel", json=body)
    assert (replay.status_code, replay.json()) == (200, {})
    other_key = await client.post(f"orders/{key}/cancel", json={"idempotencyKey": str(uuid.uuid4())})
    assert other_key.status_code == 200
    history = (await client.get(f"{sandbox.base_url}/_sandbox/orders")).json()["orders"][0]["history"]
    assert [entry["action"] for entry in history] == ["evaluate", "cancel"]
    assert (await client.post("orders/NOPE/external-cancel", json={})).status_code == 404


async def test_cancel_key_reused_for_other_order_409(client: httpx.AsyncClient) -> None:
    first = (await place(client, **MANAGED_MIT))["orderSessionKey"]
    second = (await place(client, **MANAGED_MIT))["orderSessionKey"]
    body = {"idempotencyKey": str(uuid.uuid4())}
    assert (await client.post(f"orders/{first}/cancel", json=body)).status_code == 200
    assert (await client.post(f"orders/{second}/cancel", json=body)).status_code == 409
    assert (await order(client, second))["statusName"] == "SUBMITTED"
