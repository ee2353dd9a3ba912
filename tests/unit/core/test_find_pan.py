"""find_pan: which fields are looked at (names folded as Flex binds them, at any depth, any shape
under a card field) and what is refused there; the path it returns holds no card number."""

from __future__ import annotations

import random
import uuid

import orjson
import pytest

from bench.mit import mit_events
from core.pan import find_pan, looks_like_pan
from core.pan_text import holds_pan
from sandbox.samples import evaluate_body, transmit_body
from streams.local.traffic import KINDS, make_event


def test_find_pan_names_the_field_not_the_value() -> None:
    event = {"paymentMethod": {"cardNumber": "4111111111111111"}}
    assert find_pan(event) == "paymentMethod.cardNumber"
    assert find_pan({"PaymentMethod": {"CardNumber": "4000 0027 6000 3184"}}) == "PaymentMethod.CardNumber"
    assert find_pan({"payment_method": {"credit_card": {"number": "4111111111111111"}}}) is not None
    assert find_pan({"paymentMethod": {"cardNumber": "d3e10716-6aac-4eb8-a74d-c1a3027f1d96"}}) is None
    # a 16-digit transaction id that happens to pass Luhn is not a card field
    assert find_pan({"transaction": {"id": "4111111111111111"}}) is None


@pytest.mark.parametrize(
    "key", ["card-number", "Card_Number", "CARDNUMBER", "account-number", "creditCardNumber", "cc_number"]
)
def test_card_number_fields_are_named_in_any_spelling(key: str) -> None:
    assert find_pan({"paymentMethod": {key: "4111111111111111"}}) == f"paymentMethod.{key}"


@pytest.mark.parametrize(
    "parent", ["payment-method", "payment_method", "PaymentMethod", "credit_card", "creditCard", "card"]
)
def test_number_counts_inside_a_payment_method_or_card_in_any_spelling(parent: str) -> None:
    assert find_pan({"order": {parent: {"Number": "4111111111111111"}}}) == f"order.{parent}.Number"
    assert find_pan({"order": {parent: [{"number": "4111111111111111"}]}}) == f"order.{parent}.0.number"


def test_number_elsewhere_and_ids_are_not_card_numbers() -> None:
    assert find_pan({"transaction": {"number": "4111111111111111"}}) is None
    assert find_pan({"orderId": 4111111111111111.0, "ids": ["4111111111111111"]}) is None


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ({"cardNumber": ["4111111111111111"]}, "cardNumber.0"),
        ({"pan": {"value": "4111 1111 1111 1111"}}, "pan.value"),
        (
            {"paymentMethod": {"card_number": {"a": [{"b": 4111111111111111}]}}},
            "paymentMethod.card_number.a.0.b",
        ),
    ],
)
def test_a_pan_anywhere_inside_a_card_field_is_found(event: dict[str, object], path: str) -> None:
    assert find_pan(event) == path


@pytest.mark.parametrize(
    "text",
    [
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "4111\t1111\t1111\t1111",
        "4111111111111111 exp 12/26",
        "4111 1111 1111 1111 12/26",  # more groups after it
        "exp 12/26, 4111-1111-1111-1111",
        "card-4111111111111111",
        "PAN: 4111111111111111.",
        "ab12 4111111111111111",  # the group glued to "ab" is left out, the rest is one
        "d3e10716-6aac-4eb8-a74d-c1a3027f1d96 4111111111111111",  # a token beside it
    ],
)
def test_a_card_number_with_other_separators_or_text_around_is_found(text: str) -> None:
    assert holds_pan(text)
    assert find_pan({"paymentMethod": {"cardNumber": text}}) == "paymentMethod.cardNumber"
    assert find_pan({"pan": {"value": text}}) == "pan.value"
    assert find_pan({"payment_method": {"credit_card": {"number": text}}}) is not None


@pytest.mark.parametrize(
    "text",
    [
        "d3e10716-6aac-4eb8-a74d-c1a3027f1d96",
        "41111111-1111-1111-B111-111111111111",  # its first three groups: 4111111111111111
        "00000000-0000-0000-0000-000000000000",  # 32 digits: holds sixteen zeros, which pass Luhn
        "{41111111-1111-1111-b111-111111111111}",
        "tok_4111111111111111",
        "4111111111111111x",
        "411111******1111",
        "4111 11** **** 1111",
        "4111 1111 1111 111",  # 15 digits failing Luhn
        "12/26",
    ],
)
def test_a_token_or_a_masked_number_in_a_card_field_is_no_card_number(text: str) -> None:
    assert not holds_pan(text)
    assert find_pan({"paymentMethod": {"cardNumber": text}}) is None


def test_no_random_uuid_token_is_a_card_number() -> None:
    """One UUID in about 7,000 has all-digit groups in a row that pass Luhn (30 of 200,000 in a
    trial): read as digit groups, a cardNumber holding a Flex token would be refused that often."""
    rng = random.Random(7)
    tokens = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(50_000)]
    assert [t for t in tokens if find_pan({"paymentMethod": {"cardNumber": t}}) is not None] == []


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ({"paymentMethod": {"holderName": "4111111111111111"}}, "paymentMethod.holderName"),
        ({"paymentMethod": {"cardFingerprint": "4111 1111 1111 1111"}}, "paymentMethod.cardFingerprint"),
        ({"payment_method": {"extra": {"x": ["4111.1111.1111.1111"]}}}, "payment_method.extra.x.0"),
        ({"creditCard": {"4111111111111111": True}}, "creditCard.************1111"),
        ({"paymentMethod": {"cardNum": "4111111111111111"}}, "paymentMethod.cardNum"),
        ({"order": {"card_no": "4111111111111111"}}, "order.card_no"),
        ({"CC-Num": "4111 1111 1111 1111 12/26"}, "CC-Num"),
        ({"ccno": 4111111111111111}, "ccno"),
        (
            {"additionalFields": [{"name": "card", "value": "4111 1111 1111 1111"}]},
            "additionalFields.0.value",
        ),
        ({"additionalFields": [{"key": "note", "value": "4111.1111.1111.1111"}]}, "additionalFields.0.value"),
        ({"additionalFields": [{"key": "ref", "value": "3782 822463 10005"}]}, "additionalFields.0.value"),
        (
            {"additionalFields": [{"key": "cardNumber", "value": "4111111111111111"}]},
            "additionalFields.0.value",
        ),
        (
            {"additional_fields": [{"Name": "Card-Number", "Value": 4111111111111111}]},
            "additional_fields.0.Value",
        ),
        (
            {"additionalFields": {"key": "pan", "value": "4111111111111111 exp 12/26"}},
            "additionalFields.value",
        ),
    ],
)
def test_a_card_number_elsewhere_in_a_payment_method_or_in_additional_fields_is_found(
    event: dict[str, object], path: str
) -> None:
    assert find_pan(event) == path


@pytest.mark.parametrize(
    "event",
    [
        {"paymentMethod": {"networkTransactionId": "4111111111111111"}},  # an id, as ids are elsewhere
        {"paymentMethod": {"token": {"id": 4111111111111111}}},
        {"additionalFields": [{"key": "crmOrderId", "value": "4111111111111111"}]},  # bare digits: an id
        {"additionalFields": [{"key": "phone", "value": "0044 20 7946 0956"}]},  # passes Luhn, not grouped so
        {"additionalFields": [{"key": "at", "value": "24/11/2026 10.00.03"}]},  # passes Luhn, not grouped so
        {
            "transaction": {"id": "4111111111111111"},
            "orderId": "4111111111111111",
            "note": "4111 1111 1111 1111",
        },
    ],
)
def test_ids_and_other_numbers_outside_card_fields_are_no_card_numbers(event: dict[str, object]) -> None:
    assert find_pan(event) is None


def test_card_details_and_every_sample_event_are_no_card_numbers() -> None:
    """What a payment method holds besides the token (flex-api.md): BIN, last four, expiry, names."""
    method = {
        "holderName": "Cure Tester",
        "cardType": "CREDIT",
        "cardBrand": "VISA",
        "cardCountry": "US",
        "cardIssuer": "Chase",
        "cardLevel": "CLASSIC",
        "cardFingerprint": "9f86d081884c7d659a2feaa0c55ad015",
        "expirationMonth": 9,
        "expirationYear": 2030,
        "cardBinNumber": "41111111",
        "cardLast4Digits": "1111",
        "cardNumber": "d3e10716-6aac-4eb8-a74d-c1a3027f1d96",
        "verificationValue": "999",
        "Token": True,
    }
    assert find_pan({"paymentMethod": method, "additionalFields": [{"key": "k", "value": "v"}]}) is None
    kinds = [k for k in KINDS if k != "raw-pan"]
    events = [make_event(kind, f"ORD-{i}", random.Random(i)) for i in range(20) for kind in kinds]
    events += [orjson.loads(value) for _, value in mit_events(500, seed=11)]
    assert [e for e in events if isinstance(e, dict) and find_pan(e) is not None] == []
    assert (
        find_pan(evaluate_body(order_id="ORD-1")) is None
        and find_pan(transmit_body(order_id="ORD-1")) is None
    )


def test_a_card_field_at_any_depth_is_found_without_recursion_limits() -> None:
    event: dict[str, object] = {"pan": "4111111111111111"}
    for _ in range(12):
        event = {"x": event}
    assert find_pan(event) == "x." * 12 + "pan"
    deep = orjson.loads(b"[" * 1000 + b'{"pan":"4111111111111111"}' + b"]" * 1000)  # orjson: to 1024
    path = find_pan(deep)  # "0.0.…": 1,000 digits with dots between, masked as one run
    assert path == "*" * 996 + "0000.pan"
    for _ in range(20_000):  # deeper than Python's recursion limit
        deep = {"x": deep}
    assert find_pan(deep) is not None


def test_an_integral_float_is_read_as_its_digits() -> None:
    assert looks_like_pan(4111111111111111.0) and looks_like_pan(-4111111111111111.0)
    assert not looks_like_pan(4111111111111111.5) and not looks_like_pan(float("inf"))
    assert not looks_like_pan(float("nan")) and not looks_like_pan(4111111111111112.0)
    assert find_pan(orjson.loads(b'{"paymentMethod":{"cardNumber":4111111111111111.0}}')) is not None
    assert find_pan(orjson.loads(b'{"pan":4.111111111111111e15}')) == "pan"
    # written short (as Java writes a double): 4111111111170000
    assert find_pan(orjson.loads(b'{"paymentMethod":{"cardNumber":4.11111111117E15}}')) is not None


def test_the_path_never_holds_a_card_number_used_as_a_key() -> None:
    path = find_pan({"transaction": {"4111111111111111": {"pan": "4111111111111111"}}})
    assert path == "transaction.************1111.pan"
    assert find_pan({"pan": {"4111-1111-1111-1111": True}}) == "pan.************1111"  # the key itself
    spread = {"4111": {"1111": {"1111": {"1111": {"pan": "4111111111111111"}}}}}
    assert find_pan(spread) == "************1111.pan"  # "4111.1111.1111.1111" as the path joins keys
