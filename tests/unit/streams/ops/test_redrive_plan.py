"""What ``flexbridge dlq redrive`` does with each dead letter (streams/ops/plan.py ``verdict``): one
whose card data was masked is never sent again, one kept byte for byte is."""

from __future__ import annotations

import io
from typing import Any, Literal

import pytest
from aiokafka import ConsumerRecord
from rich.console import Console

from core.settings import Settings
from schemas.dlq import DlqReason
from streams.ops.plan import Job, verdict
from streams.ops.replay import _Runner
from streams.ops.scan import Record, ReplayError
from streams.ops.selection import Selection
from streams.runtime.dead_letters import dead_letter
from streams.runtime.metrics import Metrics
from tests.unit.streams.ops.fakes import MetadataReader

REDRIVE = Job(action="redrive", selection=Selection(topic="payments.dlq"), replay_id="redrive-1")


class Producer:
    """Keeps the one dead letter it is given as the record ``dlq redrive`` would read back."""

    record: Record

    async def send_and_wait(self, topic: str, value: Any, key: Any, headers: Any) -> None:
        self.record = ConsumerRecord(topic, 0, 3, 0, 0, key, value, None, 0, 0, list(headers))


async def _dead_letter(value: bytes, reason: DlqReason) -> Record:
    source: Record = ConsumerRecord("payments.declined", 1, 9, 0, 0, b"o1", value, None, 0, 0, [])
    producer = Producer()
    await dead_letter(producer, "payments.dlq", source, reason, "why", Metrics())
    return producer.record


async def test_a_dead_letter_whose_value_was_masked_is_not_redriven() -> None:
    duplicate = b'{"orderId":"o1","paymentMethod":{"cardNumber":"4111111111111111","cardNumber":"tok_1"}}'
    record = await _dead_letter(duplicate, "retries-exhausted")
    assert verdict(REDRIVE, record) == "masked"


async def test_a_pan_detected_dead_letter_is_still_not_redriven() -> None:
    value = b'{"orderId":"o1","paymentMethod":{"cardNumber":"4111111111111111"}}'
    record = await _dead_letter(value, "pan-detected")
    assert verdict(REDRIVE, record) == "masked"
    record.headers = [(name, text) for name, text in record.headers if name != "dlq-masked"]
    assert verdict(REDRIVE, record) == "masked"  # as one written before dlq-masked existed


async def test_a_dead_letter_kept_byte_for_byte_is_redriven() -> None:
    """A Luhn-valid numeric orderId is no card number: nothing masked, the record goes back."""
    value = b'{"orderId":4111111111111111,"paymentMethod":{"cardNumber":"tok_1"}}'
    record = await _dead_letter(value, "retries-exhausted")
    assert record.value == value and verdict(REDRIVE, record) == "send"


@pytest.mark.parametrize("action", ["redrive", "replay"])
async def test_a_to_topic_that_does_not_exist_stops_the_plan(action: Literal["redrive", "replay"]) -> None:
    job = Job(action=action, selection=Selection(topic="payments.dlq"), replay_id="r-1", to_topic="no.such")
    runner = _Runner(Settings(), job, Console(file=io.StringIO()))
    reader: Any = MetadataReader({"payments.dlq"})
    with pytest.raises(ReplayError, match=r"^--to-topic no\.such: topic does not exist"):
        await runner._run(reader, producer=None, execute=False, resume=None)  # type: ignore[arg-type]
