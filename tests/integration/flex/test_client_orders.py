"""The FlexClient against the sandbox: capture, refund, cancel, external cancel and order lookups."""

from __future__ import annotations

import uuid

import pytest

from consumers.flex.client import FlexClient, FlexConflict, FlexNotFound, FlexRejected
from sandbox.samples import evaluate_body
from tests.integration.flex.support import Admin, approved, authorization, capture_required, key

pytestmark = pytest.mark.integration


async def test_capture_the_authorised_amount(flex: FlexClient, admin: Admin) -> None:
    osk = await capture_required(flex)
    idem = key()
    answer = await flex.capture(osk, 1999, "usd", idem)

    assert (answer.status, answer.capture_status, answer.failed) == ("SUCCESS", "SUCCESS", False)
    order = await flex.get_order(osk)
    assert (order.status, order.status_label) == (7, "APPROVED")
    recorded = await admin.order(osk)
    assert recorded["capturedAmount"] == 1999
    again = await flex.capture(osk, 1999, "USD", idem)  # same key, same request: replayed
    assert again.status == "SUCCESS"
    assert [e["replayed"] for e in await admin.journal("/v1/capture")] == [False, True]
    assert [h["action"] for h in (await admin.order(osk))["history"]] == ["evaluate", "capture"]


@pytest.mark.parametrize(("amount", "currency"), [(1000, "USD"), (1999, "EUR")])
async def test_capture_that_differs_from_the_authorisation_fails(
    flex: FlexClient, admin: Admin, amount: int, currency: str
) -> None:
    osk = await capture_required(flex)
    with pytest.raises(FlexRejected) as info:
        await flex.capture(osk, amount, currency, key())

    error = info.value
    assert error.status_code == 200 and "CaptureFailed" in error.errors
    assert str(error).startswith("POST /v1/capture: FAILED: capture failed: ")
    assert "must equal the" in str(error)  # Flex's reason is in the message, not only in .errors
    assert (await flex.get_order(osk)).status_label == "CAPTUREREQUIRED"
    assert (await admin.order(osk))["capturedAmount"] == 0
    assert (await flex.capture(osk, 1999, "USD", key())).status == "SUCCESS"  # the right capture still works


async def test_capture_of_unknown_or_settled_order(flex: FlexClient) -> None:
    with pytest.raises(FlexNotFound) as info:
        await flex.capture(str(uuid.uuid4()), 1999, "USD", key())
    assert info.value.status_code == 404
    osk = await approved(flex)
    with pytest.raises(FlexRejected, match="only CAPTUREREQUIRED"):
        await flex.capture(osk, 1999, "USD", key())


async def test_refund_in_cents_is_sent_in_dollars(flex: FlexClient, admin: Admin) -> None:
    osk = await approved(flex)
    first = await flex.refund(osk, 1005, "partial")
    assert (first.status, first.failed) == ("SUCCESS", False) and first.transaction_id

    order = await admin.order(osk)
    assert (order["refundedAmount"], order["status"]) == (1005, "APPROVED")
    assert order["refunds"][0]["amount"] == 1005 and order["refunds"][0]["message"] == "partial"
    rest = await flex.refund(osk, 994)
    assert rest.transaction_id != first.transaction_id
    bodies = [e["body"] for e in await admin.journal(f"/v1/orders/{osk}/refund")]
    assert bodies == [{"amountToRefund": 10.05, "refundMessage": "partial"}, {"amountToRefund": 9.94}]
    details = await flex.get_order(osk)
    assert (details.status, details.status_label) == (6, "REFUNDED")
    assert (await admin.order(osk))["refundedAmount"] == 1999


async def test_refund_above_what_was_settled_is_rejected(flex: FlexClient, admin: Admin) -> None:
    osk = await approved(flex)
    with pytest.raises(FlexRejected) as info:
        await flex.refund(osk, 2000)

    error = info.value
    assert error.status_code == 400 and error.retriable is False
    (message,) = error.errors["2001"]
    assert "Amount to refund (20.00) is greater than maximum refund amount in (19.99)" in message
    assert error.endpoint == f"POST /v1/orders/{osk}/refund"
    assert (await admin.order(osk))["refundedAmount"] == 0
    unsettled = await capture_required(flex)
    with pytest.raises(FlexRejected, match=r"maximum refund amount in \(0\.00\)"):
        await flex.refund(unsettled, 100)
    with pytest.raises(FlexNotFound):
        await flex.refund(str(uuid.uuid4()), 100)


async def test_cancel_capture_required_order(flex: FlexClient, admin: Admin) -> None:
    osk = await capture_required(flex)
    idem = key()
    answer = await flex.cancel(osk, idem)

    assert answer.errors == () and answer.success is None  # Flex answers an empty {}
    order = await flex.get_order(osk)
    assert (order.status, order.status_label) == (2, "CANCELLED")
    await flex.cancel(osk, idem)
    assert [e["replayed"] for e in await admin.journal(f"/v1/orders/{osk}/cancel")] == [False, True]
    assert [h["action"] for h in (await admin.order(osk))["history"]] == ["evaluate", "cancel"]
    with pytest.raises(FlexConflict):
        await flex.cancel(await capture_required(flex), idem)  # the key belongs to another order


async def test_cancel_of_an_approved_cit_order_is_rejected(flex: FlexClient) -> None:
    osk = await approved(flex)
    with pytest.raises(FlexRejected) as info:
        await flex.cancel(osk, key())
    assert info.value.status_code == 400 and "NotCancellable" in info.value.errors
    assert (await flex.get_order(osk)).status_label == "APPROVED"
    with pytest.raises(FlexNotFound):
        await flex.cancel(str(uuid.uuid4()), key())


async def test_external_cancel_by_merchant_order_id(flex: FlexClient, admin: Admin) -> None:
    merchant_id = f"ORD ü/{uuid.uuid4().hex[:6]}#?"  # space, non-ASCII, "/", "#", "?" must be escaped
    answer = await flex.evaluate(authorization(order_id=merchant_id))
    osk = answer.order_session_key or ""
    idem = key()
    await flex.external_cancel(merchant_id, idem)

    assert (await flex.get_order(osk)).status_label == "CANCELLED"
    (order,) = await admin.orders(merchant_id)
    assert order["orderSessionKey"] == osk and order["status"] == "CANCELLED"
    await flex.cancel(osk, idem)  # the same operation by the Flex id: collapses into the first
    assert (await admin.journal(f"/v1/orders/{osk}/cancel"))[0]["replayed"] is True
    with pytest.raises(FlexNotFound) as info:
        await flex.external_cancel(f"no-such-{uuid.uuid4().hex}", key())
    assert info.value.status_code == 404


async def test_unknown_order(flex: FlexClient) -> None:
    with pytest.raises(FlexNotFound) as info:
        await flex.get_order(str(uuid.uuid4()))
    assert info.value.status_code == 404 and info.value.endpoint.startswith("GET /v1/orders/")
    assert (await flex.outcome(str(uuid.uuid4()))).status == "NOTFOUND"


async def test_managed_mit_settled_later_is_reported(flex: FlexClient, admin: Admin) -> None:
    answer = await flex.evaluate(evaluate_body(is_mit=True, expiry_date_utc="2026-12-15T00:00:00Z"))
    osk = answer.order_session_key or ""
    assert (await flex.get_order(osk)).status_label == "SUBMITTED"
    await admin.set_status(osk, "APPROVED")
    assert (await flex.get_order(osk)).status == 7
    assert (await flex.outcome(osk)).status == "APPROVED"
    with pytest.raises(FlexRejected, match="cannot be cancelled"):
        await flex.cancel(osk, key())  # settled now: only SUBMITTED or CAPTUREREQUIRED MITs cancel
