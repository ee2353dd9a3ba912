"""``flexbridge dlq show`` prints no card number, however the dead letter's value spells it."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import ConsumerRecord

from streams.ops.dlq import describe_record


def _shown(value: bytes, key: bytes = b"ORD-1") -> str:
    record = ConsumerRecord("payments.dlq", 0, 3, 1_700_000_000_000, 0, key, value, None, 0, 0, [])
    return orjson.dumps(describe_record(record), option=orjson.OPT_INDENT_2).decode()  # as the CLI prints


@pytest.mark.parametrize(
    "value",
    [
        b'{"paymentMethod":{"cardNumber":"\\u0034\\u0031\\u0031\\u0031111111111111"}}',
        b'{"pan":"4111\\u00201111\\u002d1111\\u002D1111"}',
        b'{"pan":"4111  1111--1111 1111"}',
        b'[{"pan":"\\u0034111111111111111"}, ]',  # no JSON: printed as text
    ],
)
def test_the_printed_value_shows_no_card_number(value: bytes) -> None:
    shown = _shown(value)
    assert "1111" in shown
    for text in (shown, shown.replace(" ", "").replace("-", "")):
        assert "4111111111111111" not in text and "111111111111" not in text


def test_the_printed_key_shows_no_card_number() -> None:
    shown = orjson.loads(_shown(b"{}", key=b"4111111111111111"))
    assert shown["key"] == "************1111"


def test_the_printed_value_shows_no_verification_code() -> None:
    shown = orjson.loads(
        _shown(b'{"orderId":"O-1","paymentMethod":{"cardNumber":"tok","verificationValue":"999"}}')
    )
    assert shown["value"]["paymentMethod"] == {"cardNumber": "tok", "verificationValue": "***"}
