"""Unit tests: a command whose message or orderSessionKey holds a card number is REJECTED before
Flex is asked anything, and neither its answer nor any record keeps the number; numeric ids that
happen to pass Luhn are not refused (pure, Flex faked)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from consumers.command_cards import holds_card_number, is_card_number
from consumers.commands import CommandOutcome, reject_command, run_command
from consumers.order_keys import resolve_command
from core.merchants import Merchant, Merchants
from schemas.flex import RefundResponse
from tests.unit.consumers.test_command_session import FlexOrders, cmd, known

PAN = "4111111111111111"
REASON = "pan-detected: the command's {} a card number; send none (nothing was sent to Flex)"


class MessageFlex(FlexOrders):
    """FlexOrders that also keeps the refund messages sent."""

    def __init__(self, **order: Any) -> None:
        super().__init__(**order)
        self.messages: list[str | None] = []

    async def refund(self, key: str, cents: int, message: str | None = None) -> RefundResponse:
        self.messages.append(message)
        return await super().refund(key, cents, message)


def kept_nowhere(out: CommandOutcome) -> bool:
    """Neither the answer nor a record holds the card number's digits, in any spelling."""
    text = orjson.dumps(out.answer.model_dump(mode="json", by_alias=True)).decode()
    return out.record is None and out.changes == {} and "4111" not in text and "1111" not in text


@pytest.mark.parametrize(
    "text",
    [
        PAN,
        "customer card 4111 1111 1111 1111, please refund",
        "card 4111-1111-1111-1111 exp 12/26",
        "4111.1111.1111.1111",
        "4111\u00a01111\u00a01111\u00a01111",  # no-break spaces
        f"{PAN} 123",  # a card number run into its code: a run of 19 digits that fails Luhn itself
    ],
)
def test_a_card_number_in_free_text_is_found_however_it_is_separated(text: str) -> None:
    assert holds_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "customer request",
        "refund of 12.50 for order ORD-1001, ticket 88213",
        "returned 2024-01-15, 3 of 4 items",
        "order 100200300400500",  # fails Luhn (a 14-digit stretch of it passes: core.pan masks it)
    ],
)
def test_ordinary_messages_hold_no_card_number(text: str) -> None:
    assert not holds_card_number(text)


def test_a_key_is_a_card_number_only_as_a_whole() -> None:
    assert is_card_number("4111-1111-1111-1111") and is_card_number("4111.1111.1111.1111")
    guid = "abcdef06-4111-1111-1111-abcdefabcdef"  # its groups 06-4111-1111-1111 pass Luhn
    assert holds_card_number(guid) and not is_card_number(guid)
    assert not is_card_number("s9") and not is_card_number("100200300400500")


@pytest.mark.parametrize("kind", ["refund", "cancel", "capture"])
async def test_a_message_with_a_card_number_is_rejected_before_flex_and_kept_nowhere(kind: str) -> None:
    flex = MessageFlex()
    message = "cust card 4111 1111 1111 1111"
    for state in (known(), known(status="CAPTUREREQUIRED"), None):
        out = await run_command(cmd(kind, amount=1000, orderSessionKey="s1", message=message), state, flex)
        assert flex.calls == [] and kept_nowhere(out)
        assert out.answer.status == "REJECTED" and out.answer.reason == REASON.format("message holds")


async def test_a_key_that_is_a_card_number_is_neither_looked_up_nor_quoted() -> None:
    flex = FlexOrders()
    for state in (known(), known(order_session_key=None), None):  # compared, or else looked up
        out = await run_command(cmd("refund", amount=100, orderSessionKey="4111-1111-1111-1111"), state, flex)
        assert flex.calls == [] and out.answer.order_session_key is None and kept_nowhere(out)
        assert out.answer.reason == REASON.format("orderSessionKey holds")


async def test_both_fields_are_named() -> None:
    flex = FlexOrders()
    out = await run_command(cmd("cancel", orderSessionKey=PAN, message=f"card {PAN}"), None, flex)
    assert flex.calls == [] and kept_nowhere(out)
    assert out.answer.reason == REASON.format("orderSessionKey and message hold")


def test_a_command_refused_for_its_merchant_keeps_no_card_number_either() -> None:
    acme = Merchant(mid="mid-a", name="acme", app_key=SecretStr("k"), app_secret=SecretStr("s"))
    command = cmd("refund", amount=100, mid="mid-x", message=f"card {PAN}")
    for state in (known(mid="mid-z"), None):
        out = reject_command(command, state, Merchants([acme]), "unknown-merchant: no merchant has it")
        assert kept_nowhere(out) and out.answer.reason == REASON.format("message holds")


async def test_numeric_ids_that_pass_luhn_are_not_refused_and_kept_as_given() -> None:
    order_id, command_id, mid = "1002003004005005", "100200300400509", "930000000000005"  # all Luhn-valid
    flex = MessageFlex(externalOrderId=order_id, mid=mid)
    command = cmd(
        "refund", amount=100, orderId=order_id, commandId=command_id, mid=mid, message="customer request"
    )
    out = await run_command(command, known(order_id=order_id, mid=mid, order_session_key="s9"), flex)
    assert out.answer.status == "REFUNDED" and flex.calls == [("refund", "s9")]
    assert flex.messages == [f"customer request [commandId {command_id}]"]
    assert (out.answer.order_id, out.answer.event_id) == (order_id, command_id)
    assert out.answer.detail["mid"] == mid and out.answer.detail["commandId"] == command_id
    assert out.record is not None and out.record.request is not None
    assert out.record.request["message"] == "customer request"


async def test_a_key_holding_a_card_number_among_other_text_is_never_quoted() -> None:
    key = f"key-{PAN}"  # not a card number as a whole: compared, or looked up at Flex, but not quoted
    flex = FlexOrders(externalOrderId="O2")
    for state in (known(), None):
        out = await run_command(cmd("refund", amount=100, orderSessionKey=key), state, flex)
        assert out.answer.status == "REJECTED" and out.answer.reason is not None
        assert out.answer.reason.startswith("orderSessionKey-mismatch") and PAN not in out.answer.reason


def test_a_card_number_given_as_mid_is_not_quoted_in_the_reason_but_kept_in_detail() -> None:
    acme = Merchant(mid="mid-a", name="acme", app_key=SecretStr("k"), app_secret=SecretStr("s"))
    command = cmd("refund", amount=100, mid=PAN, orderSessionKey=None)
    found = resolve_command(command, [], Merchants([acme]))
    out = reject_command(command, found.state, Merchants([acme]), found.reason)
    assert out.answer.reason is not None and PAN not in out.answer.reason
    assert out.answer.reason.startswith("unknown-merchant:") and out.answer.detail["mid"] == PAN


async def test_a_numeric_order_id_that_passes_luhn_is_masked_in_a_reason_but_kept_as_the_order_id() -> None:
    order_id = "1002003004005005"
    out = await run_command(
        cmd("refund", amount=100, orderId=order_id, orderSessionKey=None), None, FlexOrders()
    )
    assert out.answer.status == "REJECTED" and out.answer.reason is not None
    assert out.answer.reason.startswith("unknown-order:") and order_id not in out.answer.reason
    assert "order ************5005" in out.answer.reason and out.answer.order_id == order_id
