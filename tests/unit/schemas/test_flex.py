"""Unit tests of schemas.flex: tolerant response models, error-body parser, request builders."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from consumers.flex.codec import encode_json
from core.errors import InvalidEvent
from schemas.flex import (
    CancelResponse,
    CaptureResponse,
    EvaluateResponse,
    OrderDetails,
    OrderStatusCode,
    OutcomeResponse,
    RefundResponse,
    TokenizeResponse,
    TokenResponse,
    TransmitResponse,
    cancel_body,
    capture_body,
    cents_to_dollars,
    parse_error_body,
    redact_pan,
    refund_body,
)

EVALUATE_200: dict[str, Any] = {
    "orderSessionKey": "e97b1ff1-4449-46da-bc6c-a76d23f16353",
    "senseKey": None,
    "orderId": "e97b1ff1-4449-46da-bc6c-a76d23f16353",
    "success": True,
    "result": "Success",
    "status": "CHALLENGE",
    "statusCode": None,
    "errors": [],
    "customProperties": {},
}


def test_evaluate_recorded_body() -> None:
    answer = EvaluateResponse.model_validate(EVALUATE_200)
    assert answer.order_session_key == "e97b1ff1-4449-46da-bc6c-a76d23f16353"
    assert answer.status == "CHALLENGE"
    assert answer.success is True
    assert answer.errors == ()


def test_casing_variants_unknown_fields_and_numeric_status() -> None:
    body = {"OrderSessionKey": "k", "ORDERID": "o", "Status": 3, "Sense_Key": "s", "brandNew": {"x": 1}}
    answer = EvaluateResponse.model_validate(body)
    assert (answer.order_session_key, answer.order_id, answer.sense_key) == ("k", "o", "s")
    assert answer.status == "3"
    assert TransmitResponse.model_validate({"TransmitId": 42, "Result": "success"}).transmit_id == "42"
    assert OutcomeResponse.model_validate({"STATUS": "APPROVED", "ConfirmationId": "382AB3"}).confirmation_id


def test_models_are_frozen() -> None:
    answer = EvaluateResponse.model_validate(EVALUATE_200)
    with pytest.raises(ValidationError):
        answer.status = "APPROVED"  # type: ignore[misc]


def test_token_response() -> None:
    body = {"accessToken": "jwt", "refreshToken": "r", "expires": 1712237948565, "session": None}
    token = TokenResponse.model_validate(body)
    assert (token.access_token, token.expires) == ("jwt", 1712237948565)
    assert "jwt" not in repr(token)
    pascal = TokenResponse.model_validate({"AccessToken": "a", "Expires": "1712237948565"})
    assert pascal.expires == 1712237948565
    with pytest.raises(ValidationError):
        TokenResponse.model_validate({"accessToken": ""})


def test_order_details_status_forms() -> None:
    placed = "2023-03-20T17:16:40.8987031Z"  # .NET writes 7 fractional digits
    body = {"id": "a", "status": 5, "statusName": "CaptureRequired", "orderPlacedDate": placed}
    order = OrderDetails.model_validate(body)
    assert (order.status, order.status_label) == (OrderStatusCode.CAPTUREREQUIRED, "CAPTUREREQUIRED")
    assert order.order_placed_date is not None and order.order_placed_date.year == 2023
    assert OrderDetails.model_validate({"Id": "a", "Status": "7"}).status_label == "COMPLETED"
    assert OrderDetails.model_validate({"id": "a", "status": "Cancelled"}).status == 2
    assert OrderDetails.model_validate({"id": "a", "status": 99}).status_label is None


def test_refund_and_capture_failed() -> None:
    failed = {
        "responseCode": "2001",
        "responseMessage": "Amount to refund (1.00) is greater than maximum refund amount in (0.00))",
        "transactionId": None,
        "success": False,
        "status": "FAILED",
        "errors": [{"item1": "Amount to refund ...", "item2": "2001", "item3": "2001", "item4": True}],
    }
    refund = RefundResponse.model_validate(failed)
    assert refund.failed and refund.response_code == "2001"
    assert refund.errors[0].message == "Amount to refund ..." and refund.errors[0].code == "2001"
    assert not RefundResponse.model_validate({"status": "SUCCESS", "success": True}).failed
    assert CaptureResponse.model_validate("FAILED").failed
    assert CaptureResponse.model_validate({"captureStatus": "FAILED"}).failed
    assert not CaptureResponse.model_validate({"status": "SUCCESS"}).failed
    assert CancelResponse.model_validate({}).errors == ()


def test_tokenize_token_location() -> None:
    method = {"token": "tok", "last_four_digits": "1111"}
    body = {"transaction": {"succeeded": True, "payment_method": method}}
    assert TokenizeResponse.model_validate(body).token == "tok"
    assert TokenizeResponse.model_validate({"Transaction": {"PaymentMethod": {"Token": "t2"}}}).token == "t2"
    assert TokenizeResponse.model_validate({"transaction": None}).token is None


def test_parse_error_flat_aspnet_map() -> None:
    body = b'{"TraceId":["00-abc-01"],"IdempotencyKey":["The IdempotencyKey field is required."]}'
    assert parse_error_body(body) == {
        "TraceId": ["00-abc-01"],
        "IdempotencyKey": ["The IdempotencyKey field is required."],
    }


def test_parse_error_older_and_problem_details_shapes() -> None:
    older = {"status": "400", "errors": {"OrderId": ["Merchant's orderId is required"], "TraceId": ["t"]}}
    expected = {"OrderId": ["Merchant's orderId is required"], "TraceId": ["t"]}
    assert parse_error_body(orjson.dumps(older)) == expected
    problem = {"title": "One or more validation errors occurred.", "status": 400, "traceId": "00-x",
               "errors": {"ExpiryDateUtc": ["The field ExpiryDateUtc is invalid."]}}  # fmt: skip
    expected = {"ExpiryDateUtc": ["The field ExpiryDateUtc is invalid."], "TraceId": ["00-x"]}
    assert parse_error_body(problem) == expected


def test_parse_error_envelope_tuples_and_plain_messages() -> None:
    item = {"Item1": "Amount too high", "Item2": "2001", "Item3": "2001", "Item4": True}
    body = {"status": "FAILED", "responseCode": "2001", "responseMessage": "m", "errors": [item, "loose"]}
    assert parse_error_body(body) == {"2001": ["Amount too high"], "error": ["loose"]}
    assert parse_error_body({"responseCode": "2001", "responseMessage": "too much", "errors": []}) == {
        "2001": ["too much"]
    }
    assert parse_error_body({"title": "Forbidden"}) == {"title": ["Forbidden"]}
    assert parse_error_body(b"<html>502 Bad Gateway</html>") == {"body": ["<html>502 Bad Gateway</html>"]}
    assert parse_error_body(b"") == {} and parse_error_body(None) == {}
    assert parse_error_body(b'"oops"') == {"body": ["oops"]}


def test_card_numbers_are_redacted() -> None:
    assert redact_pan("card 4111111111111111 declined") == "card ************1111 declined"
    assert redact_pan("order 1234567890123") == "order 1234567890123"  # not Luhn-valid: kept
    parsed = parse_error_body({"Number": ["4000002760003184 is invalid"]})
    assert parsed == {"Number": ["************3184 is invalid"]}


@pytest.mark.parametrize(("cents", "dollars"), [(1250, "12.50"), (1, "0.01"), (1999, "19.99"), (100, "1.00")])
def test_refund_body_cents_to_dollars(cents: int, dollars: str) -> None:
    body = refund_body(cents, "damaged")
    assert body == {"amountToRefund": Decimal(dollars), "refundMessage": "damaged"}
    assert f'"amountToRefund":{dollars}'.encode() in encode_json(body)
    assert orjson.loads(encode_json(body))["amountToRefund"] == float(dollars)
    assert "refundMessage" not in refund_body(cents)


@pytest.mark.parametrize("bad", [0, -5, True])
def test_refund_body_rejects_bad_amounts(bad: int) -> None:
    with pytest.raises(InvalidEvent):
        refund_body(bad)


@given(st.integers(min_value=1, max_value=10**11))
def test_cents_to_dollars_round_trips(cents: int) -> None:
    dollars = cents_to_dollars(cents)
    assert dollars.as_tuple().exponent == -2
    assert int(dollars * 100) == cents
    encoded = encode_json(refund_body(cents))
    assert encoded == b'{"amountToRefund":' + str(dollars).encode() + b"}"
    assert Decimal(str(orjson.loads(encoded)["amountToRefund"])) * 100 == cents


def test_capture_and_cancel_bodies() -> None:
    assert capture_body("osk", 1999, "usd", "key-1") == {
        "idempotencyKey": "key-1",
        "orderId": "osk",
        "amount": 1999,
        "currency": "USD",
    }
    with pytest.raises(InvalidEvent):
        capture_body("osk", 1999, "dollars", "key-1")
    with pytest.raises(InvalidEvent):
        capture_body("osk", 0, "USD", "key-1")
    assert cancel_body("key-2") == {"idempotencyKey": "key-2"}
