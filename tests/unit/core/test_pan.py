from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.pan import find_pan, looks_like_pan, luhn_ok, mask_pans


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError


@pytest.mark.parametrize(
    "value",
    [
        "4111111111111111",
        "4000002760003184",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        4111111111111111,
        "378282246310005",
        "6011111111111117",
        "4222222222222",
    ],
)
def test_pans_are_detected(value: object) -> None:
    assert looks_like_pan(value)


@pytest.mark.parametrize(
    "value",
    [
        "4111111111111112",
        "d3e10716-6aac-4eb8-a74d-c1a3027f1d96",
        "tok_4111111111111111x",
        "411111111111",
        "41111111111111111111",
        "",
        None,
        True,
        "４１１１１１１１１１１１１１１１",
    ],
)
def test_non_pans_are_not(value: object) -> None:
    assert not looks_like_pan(value)


def test_find_pan_names_the_field_not_the_value() -> None:
    event = {"paymentMethod": {"cardNumber": "4111111111111111"}}
    assert find_pan(event) == "paymentMethod.cardNumber"
    assert find_pan({"PaymentMethod": {"CardNumber": "4000 0027 6000 3184"}}) == "PaymentMethod.CardNumber"
    assert find_pan({"payment_method": {"credit_card": {"number": "4111111111111111"}}}) is not None
    assert find_pan({"paymentMethod": {"cardNumber": "d3e10716-6aac-4eb8-a74d-c1a3027f1d96"}}) is None
    # a 16-digit transaction id that happens to pass Luhn is not a card field
    assert find_pan({"transaction": {"id": "4111111111111111"}}) is None


def test_mask_keeps_only_last_four() -> None:
    raw = b'{"cardNumber":"4111111111111111","id":"1234567890123","amount":1999}'
    masked = mask_pans(raw)
    assert b"4111111111111111" not in masked
    assert b"************1111" in masked
    assert b'"1234567890123"' in masked  # fails Luhn: untouched


@given(st.from_regex(r"[1-9][0-9]{11,17}", fullmatch=True))
def test_every_luhn_valid_number_is_caught_and_masked(prefix: str) -> None:
    pan = _luhn_complete(prefix)
    assert looks_like_pan(pan)
    assert pan.encode() not in mask_pans(b'{"pan":"' + pan.encode() + b'"}')
