"""Routing by merchant (DESIGN.md §2.9): an event's mid selects its merchant and that merchant's
routing; an unknown or missing mid is ``unknown-merchant`` unless one merchant is served; an order
keeps the mid of its first status, and its commands belong to that merchant."""

from __future__ import annotations

import random

import orjson
from pydantic import SecretStr

from consumers.commands import reject_command
from consumers.intake import Refused, Routed, route_to_merchant
from consumers.order_keys import resolve_command
from consumers.order_machine import apply_status
from core.merchants import Merchant, Merchants
from core.settings import RoutingSettings
from schemas.commands import OrderCommand
from schemas.status import status_of
from streams.local.traffic import make_event


def merchant(name: str, mid: str | None, mit: str = "api") -> Merchant:
    return Merchant(
        mid=mid,
        name=name,
        app_key=SecretStr("k"),
        app_secret=SecretStr("s"),
        routing=RoutingSettings(mit=mit, transmit="api"),
    )


ACME, GLOBEX = merchant("acme", "mid-acme", mit="sftp"), merchant("globex", "mid-globex")
BOTH = Merchants([ACME, GLOBEX])


def raw(mid: str | None, kind: str = "mit-rebill") -> bytes:
    event = make_event(kind, "ORD-1", random.Random(4))
    assert isinstance(event, dict)
    event.pop("mid", None)
    if mid is not None:
        event["mid"] = mid
    return orjson.dumps(event)


def test_the_mid_selects_the_merchant_and_its_routing() -> None:
    acme = route_to_merchant(raw("mid-acme"), "evaluate", BOTH)
    globex = route_to_merchant(raw("mid-globex"), "evaluate", BOTH)
    assert isinstance(acme, Routed) and acme.merchant == ACME and acme.route == "sftp"
    assert isinstance(globex, Routed) and globex.merchant == GLOBEX and globex.route == "api"


def test_an_unknown_or_missing_mid_is_unknown_merchant_with_several_merchants() -> None:
    for mid in ("mid-nobody", None):
        refused = route_to_merchant(raw(mid), "evaluate", BOTH)
        assert isinstance(refused, Refused) and refused.reason == "unknown-merchant", mid
    bad = route_to_merchant(b"{", "evaluate", BOTH)  # the schema comes first
    assert isinstance(bad, Refused) and bad.reason == "schema"


def test_an_unknown_mid_is_quoted_with_its_card_numbers_masked() -> None:
    """The message becomes the dead letter's dlq-error header: a card number sent as the mid stays out."""
    refused = route_to_merchant(raw("4111 1111 1111 1111"), "evaluate", BOTH)
    assert isinstance(refused, Refused) and refused.reason == "unknown-merchant"
    assert "mid '************1111' is no configured merchant's" in refused.message
    unknown = route_to_merchant(raw("mid-nobody"), "evaluate", BOTH)
    assert isinstance(unknown, Refused) and "mid 'mid-nobody' is no configured merchant's" in unknown.message


def test_one_merchant_takes_an_event_without_mid_and_one_without_mid_takes_every_event() -> None:
    one = Merchants([ACME])
    assert isinstance(route_to_merchant(raw(None), "evaluate", one), Routed)
    assert isinstance(route_to_merchant(raw("mid-other"), "evaluate", one), Refused)
    anyone = Merchants([merchant("default", None)])
    routed = route_to_merchant(raw("mid-other"), "evaluate", anyone)
    assert isinstance(routed, Routed) and routed.merchant is not None and routed.merchant.name == "default"


def test_the_order_keeps_the_mid_of_its_first_status_and_its_commands_belong_to_it() -> None:
    first = status_of("ORD-1", "SUBMITTED", "evaluate", "e1", detail={"mid": "mid-globex"})
    later = status_of("ORD-1", "APPROVED", "webhook", "w1", detail={"mid": "mid-acme"})
    state, _ = apply_status(None, first)
    state, _ = apply_status(state, later)
    assert state.mid == "mid-globex"
    command = OrderCommand.model_validate({"commandId": "c1", "type": "cancel", "orderId": "ORD-1"})
    assert resolve_command(command, [state], BOTH).merchant == GLOBEX
    assert resolve_command(command, [], Merchants([ACME])).merchant == ACME  # one merchant: all its


def test_a_command_for_an_order_of_no_merchant_of_ours_is_rejected_with_its_reason() -> None:
    command = OrderCommand.model_validate({"commandId": "c1", "type": "cancel", "orderId": "ORD-9"})
    assert resolve_command(command, [], BOTH).merchant is None
    outcome = reject_command(command, None, BOTH)
    assert outcome.answer.status == "REJECTED" and outcome.record is not None
    assert outcome.answer.reason == (
        "unknown-order: flexbridge knows no order ORD-9, so its merchant is not known"
        " (2 merchants are served)"
    )  # the prefix a consumer matches, as for an unknown order of one merchant
    gone, _ = apply_status(None, status_of("ORD-9", "SUBMITTED", "evaluate", "e", detail={"mid": "mid-x"}))
    assert resolve_command(command, [gone], BOTH).merchant is None
    reason = reject_command(command, gone, BOTH).answer.reason
    assert reason is not None and "mid-x" in reason


def test_a_refused_record_is_counted_as_the_merchant_its_mid_names() -> None:
    """A schema or pan-detected dead letter names the merchant its value's mid names (any case, the
    key spelt any way the model takes it), so an operator sees whose events are refused; a value that
    is no JSON object, an unknown mid, or none among several merchants names none."""
    event = orjson.loads(raw("MID-ACME "))
    del event["orderId"]
    schema = route_to_merchant(orjson.dumps(event), "evaluate", BOTH)
    assert isinstance(schema, Refused) and (schema.reason, schema.merchant) == ("schema", ACME)
    event = orjson.loads(raw(None))
    event["M_ID"] = "mid-globex"
    event["paymentMethod"]["cardNumber"] = "4111 1111 1111 1111"
    pan = route_to_merchant(orjson.dumps(event), "evaluate", BOTH)
    assert isinstance(pan, Refused) and (pan.reason, pan.merchant) == ("pan-detected", GLOBEX)
    for value in (b"{", b"[1]", orjson.dumps({"mid": "mid-nobody"}), orjson.dumps({"mid": 7}), b"{}"):
        refused = route_to_merchant(value, "evaluate", BOTH)
        assert isinstance(refused, Refused) and refused.merchant is None, value
    one = route_to_merchant(b'{"eventId": "e1"}', "evaluate", Merchants([ACME]))
    assert isinstance(one, Refused) and one.merchant == ACME  # no mid: the one merchant's, as routed
