"""What a dead letter carries: card data masked wherever the record may hold some, else the record."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord

from schemas.dlq import DlqReason
from streams.runtime.dead_letters import dead_letter
from streams.runtime.dlq_masking import masked_value
from streams.runtime.metrics import Metrics

PAN = b"4111111111111111"


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.headers: list[dict[str, bytes]] = []

    async def send_and_wait(self, topic: str, value: Any, key: Any = None, headers: Any = ()) -> None:
        self.sent.append((topic, value, key))
        self.headers.append(dict(headers))


def _record(
    value: bytes | None, key: bytes = b"ORD-1", headers: list[tuple[str, bytes]] | None = None
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("payments.declined", 0, 7, 0, 0, key, value, None, 0, 0, headers or [])


async def _dead_letter(record: ConsumerRecord[bytes, bytes], reason: DlqReason) -> tuple[Any, Any, dict]:
    """The value, key and headers of ``record``'s dead letter."""
    producer = FakeProducer()
    await dead_letter(producer, "payments.dlq", record, reason, "why", Metrics())
    [(_, value, key)] = producer.sent
    return value, key, producer.headers[0]


@pytest.mark.parametrize(
    "value",
    [
        b'[{"cardNumber":"4111111111111111"}]',  # JSON, but no object
        b'{"cardNumber":"4111111111111111",}',  # no JSON: a trailing comma
        b'"4111 1111 1111 1111"',
        b"\xff4111111111111111",  # no UTF-8
    ],
)
async def test_a_value_that_is_no_json_object_is_masked(value: bytes) -> None:
    producer = FakeProducer()
    await dead_letter(producer, "payments.dlq", _record(value), "schema", "bad", Metrics())
    [(topic, sent, key)] = producer.sent
    assert topic == "payments.dlq" and key == b"ORD-1"
    assert sent is not None and b"4111111111111111" not in sent.replace(b" ", b"") and b"1111" in sent


def test_a_json_object_refused_for_another_reason_is_kept_as_it_was() -> None:
    value = orjson.dumps({"orderId": "4111111111111111", "transaction": {"id": 4111111111111111}})
    for reason in ("schema", "flex-rejected", "unknown-merchant"):
        assert masked_value(value, reason) is value
    assert b"4111111111111111" not in masked_value(value, "pan-detected")  # type: ignore[operator]
    assert masked_value(None, "schema") is None


def test_a_value_refused_for_its_card_number_keeps_no_verification_code() -> None:
    value = b'{"paymentMethod":{"cardNumber":"4111111111111111","cvv":"123"},"transaction":{"cvv":"9"}}'
    assert orjson.loads(masked_value(value, "pan-detected")) == {  # type: ignore[arg-type]
        "paymentMethod": {"cardNumber": "************1111", "cvv": "***"},
        "transaction": {"cvv": "9"},
    }
    kept = b'{"paymentMethod":{"cardNumber":"tok","cvv":"123"}}'
    assert masked_value(kept, "retries-exhausted") is kept  # redriven: sent again as it was


DEEP = b'{"x":' + b"[" * 70 + b"]" * 70 + b',"paymentMethod":{"cardNumber":"4111111111111111"}}'
DUPLICATE = b'{"orderId":"o1","paymentMethod":{"cardNumber":"4111111111111111","cardNumber":"tok_1"}}'


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (DEEP, "schema"),  # refused by its depth before the intake searched it
        (DUPLICATE, "unknown-merchant"),  # the intake's parse kept only "tok_1"
        (DUPLICATE.replace(b"cardNumber", b"number"), "flex-rejected"),  # paymentMethod.number
        (b'{"a":{"pan":1,"pan":{"b":{"c":4111111111111111}}}}', "retries-exhausted"),  # under a card field
    ],
)
async def test_a_card_number_the_intake_never_saw_is_masked(value: bytes, reason: DlqReason) -> None:
    sent, _, headers = await _dead_letter(_record(value), reason)
    assert PAN not in sent and b"************1111" in sent
    assert headers["dlq-masked"] == b"value"


def test_a_card_number_written_with_an_exponent_is_masked() -> None:
    """The intake's raw-bytes pre-scan skips this one (no 13 digits in a row)."""
    masked = masked_value(b'{"paymentMethod":{"cardNumber":4.11111111117e15}}', "unknown-merchant")
    assert masked == b'{"paymentMethod":{"cardNumber":************0000}}'


async def test_a_value_too_deep_for_the_parser_is_masked_as_text() -> None:
    value = b"[" * 100_000 + b'{"n":"4111111111111111"}' + b"]" * 100_000  # a RecursionError
    sent, _, headers = await _dead_letter(_record(value), "schema")
    assert PAN not in sent and b"************1111" in sent and headers["dlq-masked"] == b"value"


async def test_a_card_number_that_cannot_be_masked_in_place_is_left_out() -> None:
    """UTF-16 text: the stdlib parser reads the card number, mask_pans finds no digit run in the bytes."""
    value = '{"cardNumber":"4111111111111111"}'.encode("utf-16")
    sent, key, headers = await _dead_letter(_record(value), "schema")
    assert sent is None and key == b"ORD-1" and headers["dlq-masked"] == b"value (left out)"


async def test_the_key_and_headers_of_a_masked_dead_letter_are_masked_too() -> None:
    record = _record(b'{"paymentMethod":{"cardNumber":"4111111111111111"}}', key=PAN, headers=[
        ("x-card", b"4111-1111-1111-1111"), ("trace", b"t-1"),
    ])  # fmt: skip
    sent, key, headers = await _dead_letter(record, "pan-detected")
    assert key == b"************1111" and headers["x-card"] == b"************1111"
    assert headers["trace"] == b"t-1" and PAN not in sent
    assert headers["dlq-masked"] == b"value, key, headers"
    _, key, headers = await _dead_letter(_record(DUPLICATE, key=PAN, headers=[("x", PAN)]), "flex-rejected")
    assert key == b"************1111" and headers["x"] == b"************1111"
    named = _record(DUPLICATE, headers=[("card-4111111111111111", b"v")])  # a card number as a name
    _, _, headers = await _dead_letter(named, "pan-detected")
    assert headers["card-************1111"] == b"v" and not any(PAN.decode() in name for name in headers)
    assert headers["dlq-masked"] == b"value, headers"


async def test_an_event_with_a_numeric_order_id_and_no_card_number_is_kept_byte_for_byte() -> None:
    """A Luhn-valid order id is no card field: the dead letter is the record, and can be redriven."""
    value = b'{"orderId":4111111111111111,"transaction":{"id":"4111111111111111"},"paymentMethod":{}}'
    record = _record(value, key=PAN, headers=[("ref", PAN)])
    sent, key, headers = await _dead_letter(record, "retries-exhausted")
    assert sent == value and key == PAN and headers["ref"] == PAN and "dlq-masked" not in headers


@pytest.mark.parametrize("value", [b"not json either", b"[1, 2]", b'"text"', None])
async def test_a_card_number_as_the_key_of_a_record_that_is_no_json_object_is_masked(
    value: bytes | None,
) -> None:
    """Without an object, nothing shows the key to be an order id: it is masked as the value's digits are."""
    record = _record(value, key=PAN, headers=[("ref", PAN), ("trace", b"t-1")])
    sent, key, headers = await _dead_letter(record, "schema")
    assert key == b"************1111" and headers["ref"] == b"************1111"
    assert headers["trace"] == b"t-1" and sent == value
    assert headers["dlq-masked"] == b"key, headers"
    _, key, headers = await _dead_letter(_record(value, key=b"ORD-1"), "schema")
    assert key == b"ORD-1" and "dlq-masked" not in headers
