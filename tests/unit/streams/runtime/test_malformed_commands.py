"""The REJECTED answer to a command that names an order but cannot be run: what its detail says."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest

from consumers.command_input import MalformedCommand, answer_event_id, decode_command, malformed_answer
from core.settings import TopicSettings
from streams.runtime.commands import CommandAgent
from streams.runtime.metrics import Metrics

WHERE = "orders.commands:3:42"


def answer(command: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(MalformedCommand) as bad:
        decode_command(orjson.dumps(command))
    return malformed_answer(bad.value, WHERE).model_dump(mode="json", by_alias=True)


def test_a_readable_type_and_mid_are_named_in_the_detail() -> None:
    got = answer({"commandId": "c1", "type": "refund", "orderId": "O1", "mid": "m1", "amount": -5})
    assert (got["status"], got["source"], got["eventId"]) == ("REJECTED", "command", "c1")
    assert got["detail"] == {"commandId": "c1", "command": "refund", "mid": "m1"}
    assert got["reason"].startswith("malformed command: amount")


def test_what_is_not_readable_is_left_out() -> None:
    got = answer({"type": "explode", "orderId": "O1"})
    assert got["eventId"] == WHERE and got["detail"] == {"commandId": None}
    assert "type" in got["reason"]


def test_the_answers_event_id_is_read_from_the_command_as_its_answer_names_it() -> None:
    """What the replay plan looks for on orders.status (streams/ops/outcomes.py): the commandId of a
    valid command in either spelling, a malformed one's readable commandId, else where it was read."""
    valid = {"type": "cancel", "orderId": "O1"}
    assert answer_event_id(orjson.dumps({**valid, "commandId": "c1"}), WHERE) == "c1"
    assert answer_event_id(orjson.dumps({**valid, "command_id": "c2"}), WHERE) == "c2"
    for bad in (
        {"commandId": "c1", "type": "explode", "orderId": "O1"},
        {"type": "explode", "orderId": "O1"},
    ):
        assert answer_event_id(orjson.dumps(bad), WHERE) == answer(bad)["eventId"]
    assert answer_event_id(b"{", WHERE) == WHERE


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = []

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes | None, headers: Any) -> None:
        self.sent.append((topic, value, list(headers)))


async def _dead_letter_of(raw: bytes) -> tuple[bytes | None, dict[str, bytes]]:
    runtime = SimpleNamespace(metrics=Metrics())
    agent = CommandAgent(TopicSettings(), cast(Any, runtime), cast(Any, None))
    message = SimpleNamespace(topic="orders.commands", partition=0, offset=7, key=None, value=raw, headers=[])
    producer = _Producer()
    with pytest.raises(MalformedCommand) as bad:
        decode_command(raw)
    await agent._malformed(cast(Any, producer), message, bad.value)
    [(_, value, headers)] = producer.sent
    return value, dict(headers)


async def test_a_command_without_an_order_whose_text_holds_a_card_number_is_dead_lettered_masked() -> None:
    raw = orjson.dumps({"commandId": "c1", "type": "refund", "message": "card 4111 1111 1111 1111"})
    value, headers = await _dead_letter_of(raw)
    assert value is not None and b"4111 1111 1111 1111" not in value
    assert headers["dlq-reason"] == b"pan-detected" and b"dlq-masked" in {k.encode() for k in headers}
    plain = orjson.dumps({"commandId": "c2", "type": "refund", "message": "customer asked"})
    value, headers = await _dead_letter_of(plain)
    assert value == plain and headers["dlq-reason"] == b"schema"
