"""Unit tests of the one decode-and-route rule (consumers/intake.py), shared by the bridge and the
batch path: what it accepts, how it routes, what it refuses. Which reader takes a record:
test_split.py."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest
from hypothesis import strategies as st

from consumers.intake import Flow, Refused, Routed, decode_and_route, mid_of, route_of
from core.settings import RoutingSettings
from schemas.codec import MAX_DEPTH
from schemas.events import PaymentEvent
from streams.local.traffic import KINDS, make_event

SFTP_MIT = RoutingSettings(mit="sftp", transmit="api")
ALL_API = RoutingSettings(mit="api", transmit="api")
ALL_SFTP = RoutingSettings(mit="sftp", transmit="sftp")
ROUTINGS = (SFTP_MIT, ALL_API, ALL_SFTP, RoutingSettings(mit="api", transmit="sftp"))


def _raw(kind: str, seed: int = 1) -> bytes:
    event = make_event(kind, f"ORD-{seed}", random.Random(seed))
    return event if isinstance(event, bytes) else orjson.dumps(event)


@pytest.mark.parametrize(
    ("kind", "flow", "routing", "route"),
    [
        ("approval", "transmit", SFTP_MIT, "api"),
        ("approval", "transmit", ALL_SFTP, "sftp"),
        ("mit-rebill", "evaluate", SFTP_MIT, "sftp"),
        ("mit-rebill", "evaluate", ALL_API, "api"),
        ("cit-declined", "evaluate", ALL_SFTP, "api"),  # only managed MIT goes to files
    ],
)
def test_a_valid_event_is_routed(kind: str, flow: Flow, routing: RoutingSettings, route: str) -> None:
    answer = decode_and_route(_raw(kind), flow, routing)
    assert isinstance(answer, Routed) and answer.route == route
    assert answer.event.event_id == orjson.loads(_raw(kind))["eventId"]
    assert route_of(flow, answer.event, routing) == route


@pytest.mark.parametrize(
    ("raw", "reason", "says"),
    [
        (None, "schema", "tombstone"),
        (b"{not json", "schema", "not valid JSON"),
        (b"[1, 2]", "schema", "JSON object"),
        (_raw("bad-json"), "schema", "not valid JSON"),
        (_raw("bad-schema"), "schema", "eventId"),
        (_raw("raw-pan"), "pan-detected", "paymentMethod"),
    ],
)
def test_a_bad_record_is_refused_with_its_reason(raw: bytes | None, reason: str, says: str) -> None:
    answer = decode_and_route(raw, "evaluate", SFTP_MIT)
    assert isinstance(answer, Refused) and answer.reason == reason
    assert says in answer.message and "4111111111111111" not in answer.message


def test_an_escaped_card_number_is_found_too() -> None:
    event: dict[str, Any] = orjson.loads(_raw("approval"))
    event["paymentMethod"]["cardNumber"] = "4111111111111111"
    raw = orjson.dumps(event).replace(b'"4111', b'"\\u0034111')
    answer = decode_and_route(raw, "transmit", ALL_API)
    assert isinstance(answer, Refused) and answer.reason == "pan-detected"


@pytest.mark.parametrize(
    "number",
    [
        b"4222222222222.0",
        b"4.222222222222e12",
        b"42222222222.22e2",
        # 4111111111170000: written short, the mantissa holds only 12 digits
        b"4.11111111117e15",
        b"4.11111111117E+15",
        b"-4.11111111117e15",
        b"411111111117e4",
        b" 0.411111111117e16",
    ],
)
def test_a_card_number_written_as_a_float_is_found(number: bytes) -> None:
    event: dict[str, Any] = orjson.loads(_raw("approval"))
    event["paymentMethod"]["cardNumber"] = "TOKEN"
    raw = orjson.dumps(event).replace(b'"TOKEN"', number)
    answer = decode_and_route(raw, "transmit", ALL_API)
    assert isinstance(answer, Refused) and answer.reason == "pan-detected", answer


@pytest.mark.parametrize(
    "card",
    ["4111.1111.1111.1111", "4111/1111/1111/1111", "4111\t1111\t1111\t1111", "4111111111111111 exp 12/26"],
)
@pytest.mark.parametrize("flow", ["transmit", "evaluate"])
def test_a_card_number_with_other_separators_or_text_around_is_refused(card: str, flow: Flow) -> None:
    event: dict[str, Any] = orjson.loads(_raw("mit-rebill"))
    event["paymentMethod"]["cardNumber"] = card
    answer = decode_and_route(orjson.dumps(event), flow, ALL_SFTP)
    assert isinstance(answer, Refused) and answer.reason == "pan-detected", answer
    assert answer.message.startswith("paymentMethod.cardNumber holds a card number")


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("holderName", "4111111111111111"),
        ("cardNum", "4111111111111111"),
        ("card_no", "4111 1111 1111 1111"),
    ],
)
def test_a_card_number_in_another_payment_method_field_is_refused(where: str, value: str) -> None:
    event: dict[str, Any] = orjson.loads(_raw("mit-rebill"))
    event["paymentMethod"][where] = value
    answer = decode_and_route(orjson.dumps(event), "evaluate", ALL_SFTP)
    assert isinstance(answer, Refused) and answer.reason == "pan-detected", answer
    assert answer.message.startswith(f"paymentMethod.{where} holds a card number")


def test_a_card_number_in_additional_fields_is_refused_and_a_numeric_id_there_is_not() -> None:
    event: dict[str, Any] = orjson.loads(_raw("mit-rebill"))
    event["additionalFields"] = [{"key": "crmOrderId", "value": "4111111111111111"}]  # an id
    assert isinstance(decode_and_route(orjson.dumps(event), "evaluate", ALL_SFTP), Routed)
    event["additionalFields"].append({"name": "card", "value": "4111 1111 1111 1111"})
    answer = decode_and_route(orjson.dumps(event), "evaluate", ALL_SFTP)
    assert isinstance(answer, Refused) and answer.reason == "pan-detected", answer
    assert answer.message.startswith("additionalFields.1.value holds a card number")


def _nested(kind: str, depth: int) -> bytes:
    """A valid event with an extra field that makes the whole value ``depth`` levels deep."""
    event: dict[str, Any] = orjson.loads(_raw(kind))
    inner: Any = []
    for _ in range(depth - 2):
        inner = [inner]
    event["extra"] = inner
    return json.dumps(event).encode()  # orjson would refuse to write the deepest


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300])
def test_a_value_nested_too_deep_to_write_out_again_is_refused(depth: int) -> None:
    raw = _nested("mit-rebill", depth)
    answer = decode_and_route(raw, "evaluate", SFTP_MIT)
    assert isinstance(answer, Refused) and answer.reason == "schema", answer
    assert f"nests deeper than {MAX_DEPTH} levels" in answer.message
    fine = decode_and_route(_nested("mit-rebill", MAX_DEPTH), "evaluate", SFTP_MIT)
    assert isinstance(fine, Routed) and orjson.dumps(fine.event.flex_body(mid=None, site_id=None))


def _mutated(kind: str, seed: int, field: str, value: Any) -> bytes:
    event = make_event(kind, f"ORD-{seed}", random.Random(seed))
    if isinstance(event, bytes):
        return event
    return orjson.dumps({**event, field: value})


# one field of a generated event set to one value (``_mutated``), in every flow: the strategies of
# test_split.py
MUTATIONS = (
    st.sampled_from(sorted(KINDS)),
    st.integers(0, 50),
    st.sampled_from(("isMIT", "ismit", "IsMit", "eventId", "orderId", "mid", "pan", "note")),
    st.none()
    | st.booleans()
    | st.integers(-1, 2)
    | st.sampled_from(("true", "false", "", "0", "yes", "x", "mid-acme", "mid-globex"))
    | st.sampled_from(("4111 1111 1111 1111", 4111111111111111)),
    st.sampled_from(("transmit", "evaluate")),
)


@pytest.mark.parametrize(
    "fields",
    [
        {"mid": " mid-acme "},
        {"MID": "mid-acme"},
        {"Mid": "mid-acme", "mid": "mid-globex"},  # the exact spelling wins
        {"MID": "mid-acme", "mid": None},  # the exact one, null: no mid
        {},
    ],
)
def test_mid_of_reads_the_mid_as_the_model_does(fields: dict[str, Any]) -> None:
    data = {k: v for k, v in orjson.loads(_raw("mit-rebill")).items() if k != "mid"} | fields
    assert mid_of(data) == PaymentEvent.model_validate(data).mid
