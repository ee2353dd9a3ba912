"""What a dead letter carries: card numbers masked wherever the field rule could not look for them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord

from streams.runtime.dead_letters import dead_letter, masked_value
from streams.runtime.metrics import Metrics


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    async def send_and_wait(self, topic: str, value: Any, key: Any = None, **kw: Any) -> None:
        self.sent.append((topic, value, key))


def _record(value: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("payments.declined", 0, 7, 0, 0, b"ORD-1", value, None, 0, 0, [])


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
