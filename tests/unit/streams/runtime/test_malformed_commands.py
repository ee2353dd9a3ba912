"""The REJECTED answer to a command that names an order but cannot be run: what its detail says."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.runtime.commands import MalformedCommand, decode_command, malformed_answer

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
