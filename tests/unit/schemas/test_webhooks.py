"""The Flex webhook payload (flex-api.md §3.3), its parser, its dedupe key and its status mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.errors import InvalidEvent
from schemas.webhooks import STATUS_BY_EVENT, FlexWebhook, dedupe_key, parse_webhook, status_for

# The official SampleClient mock payload.
SAMPLE = (
    b'{"Event":"order.completed","TimeStamp":"2023-03-20T17:16:40.898703Z","EventData":null,'
    b'"ExternalOrderId":"a9735210-1349-49bf-bfde-b737dd07872a",'
    b'"OrderId":"ac9674ed-cbfe-49aa-bc8b-eb1d2b74c429","ConfirmationId":"22ACD1D9",'
    b'"IsTestMode":true,"IsResent":false}'
)
CAMEL = {
    "event": "order.completed",
    "timeStamp": "2023-03-20T17:16:40.898703Z",
    "eventData": None,
    "externalOrderId": "a9735210-1349-49bf-bfde-b737dd07872a",
    "orderId": "ac9674ed-cbfe-49aa-bc8b-eb1d2b74c429",
    "confirmationId": "22ACD1D9",
    "isTestMode": True,
    "isResent": False,
}


def test_the_sample_payload() -> None:
    w = parse_webhook(SAMPLE)
    assert w.event == "order.completed"
    assert w.time_stamp == datetime(2023, 3, 20, 17, 16, 40, 898703, tzinfo=UTC)
    assert w.event_data is None
    assert w.external_order_id == "a9735210-1349-49bf-bfde-b737dd07872a"
    assert w.order_id == "ac9674ed-cbfe-49aa-bc8b-eb1d2b74c429"
    assert w.confirmation_id == "22ACD1D9"
    assert w.is_test_mode is True and w.is_resent is False
    assert w.model_dump(by_alias=True, mode="json") | {"TimeStamp": None} == orjson.loads(SAMPLE) | {
        "TimeStamp": None
    }


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps(SAMPLE.decode()),  # text whose content is a JSON string holding the object
        orjson.dumps(orjson.dumps(SAMPLE.decode()).decode()),  # … twice
        b"\xef\xbb\xbf" + SAMPLE,  # a UTF-8 byte order mark
        b"\r\n  " + SAMPLE + b"\n",
        bytearray(SAMPLE),
        orjson.dumps(CAMEL),
        orjson.dumps({k.lower(): v for k, v in CAMEL.items()}),
        orjson.dumps({k.upper(): v for k, v in CAMEL.items()}),
        orjson.dumps(
            {"event": "order.completed", "time_stamp": CAMEL["timeStamp"], "order_id": CAMEL["orderId"]}
            | {"external_order_id": CAMEL["externalOrderId"], "confirmation_id": "22ACD1D9"}
            | {"is_test_mode": True}
        ),
    ],
)
def test_every_spelling_and_wrapping_reads_the_same(body: bytes) -> None:
    assert parse_webhook(body) == parse_webhook(SAMPLE)


def test_the_exact_pascal_spelling_wins_over_a_variant() -> None:
    body = orjson.dumps({"orderId": "camel", "OrderId": "pascal", "Event": "order.expired"})
    assert parse_webhook(body).order_id == "pascal"
    body = orjson.dumps({"OrderId": "pascal", "orderid": "lower", "Event": "order.expired"})
    assert parse_webhook(body).order_id == "pascal"


def test_unknown_fields_are_kept_and_event_data_is_passed_through() -> None:
    data = orjson.loads(SAMPLE) | {"Merchant": {"Mid": "m-1"}, "EventData": {"Amount": 12.5, "Reason": "x"}}
    w = parse_webhook(orjson.dumps(data))
    assert w.model_extra == {"Merchant": {"Mid": "m-1"}}
    assert w.event_data == {"Amount": 12.5, "Reason": "x"}
    assert w.model_dump(by_alias=True)["Merchant"] == {"Mid": "m-1"}


def test_lenient_values() -> None:
    body = orjson.dumps(
        {
            "Event": "  Order.Completed ",
            "TimeStamp": "2023-03-20T17:16:40.8987031",  # .NET: seven digits, no zone
            "OrderId": 12345,
            "IsTestMode": None,
            "IsResent": "true",
        }
    )
    w = parse_webhook(body)
    assert w.event == "order.completed" and status_for(w) == "APPROVED"
    assert w.time_stamp == datetime(2023, 3, 20, 17, 16, 40, 898703, tzinfo=UTC)
    assert w.order_id == "12345"
    assert w.is_test_mode is False and w.is_resent is True
    minimal = parse_webhook(b'{"Event":"payout.created"}')
    assert minimal.order_id is None and minimal.time_stamp is None and minimal.is_resent is False


def test_the_model_is_frozen_and_can_be_built_in_code() -> None:
    w = FlexWebhook(event="order.refunded", order_id="o-1")
    assert status_for(w) == "REFUNDED"
    with pytest.raises(ValidationError):
        w.order_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"  \n ", "empty"),
        (b'"   "', "empty"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"Event=order.completed&OrderId=x", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b'{"Event": NaN}', "not valid JSON"),
        (b"null", "got null"),
        (b"[]", "got an array"),
        (b"42", "got a number"),
        (b"true", "got a boolean"),
        (b'"hello"', "not valid JSON"),
        (b'"[1]"', "got an array"),
        (orjson.dumps(orjson.dumps(orjson.dumps(SAMPLE.decode()).decode()).decode()), "got a string"),
        (b"{}", "Event"),
        (b'{"OrderId":"x"}', "Event"),
        (b'{"Event":""}', "Event"),
        (b'{"Event":["order.completed"]}', "Event"),
        (b'{"Event":"order.completed","TimeStamp":"soon"}', "TimeStamp"),
        (b'{"Event":"order.completed","IsResent":"maybe"}', "IsResent"),
    ],
)
def test_anything_else_is_an_invalid_event(body: bytes, says: str) -> None:
    with pytest.raises(InvalidEvent, match=says) as info:
        parse_webhook(body)
    assert info.value.reason == "schema" and not info.value.retriable


def test_a_validation_message_does_not_echo_values() -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_webhook(b'{"Event":"order.completed","IsResent":"4111111111111111"}')
    assert "4111111111111111" not in str(info.value)


DESIGN_STATUSES = [  # DESIGN.md §2.3, stated here on their own: the test pins the contract
    ("order.completed", "APPROVED"),
    ("order.expired", "EXPIRED"),
    ("order.cancelled", "CANCELLED"),
    ("order.refunded", "REFUNDED"),
    ("order.capturerequired", "CAPTUREREQUIRED"),
    ("payment.chargeback.received", "CHARGEBACK"),
]


@pytest.mark.parametrize(("event", "status"), DESIGN_STATUSES)
def test_each_status_event_sets_its_design_status(event: str, status: str) -> None:
    assert STATUS_BY_EVENT[event] == status
    assert status_for(parse_webhook(orjson.dumps({"Event": event}))) == status


def test_no_other_event_sets_a_status_and_the_mapping_is_read_only() -> None:
    assert set(STATUS_BY_EVENT) == {event for event, _ in DESIGN_STATUSES}
    for other in ("challenge.presented", "challenge.passed", "payout.created", "payout.updated", "x"):
        assert STATUS_BY_EVENT.get(other) is None
        assert status_for(parse_webhook(orjson.dumps({"Event": other}))) is None
    with pytest.raises(TypeError):
        STATUS_BY_EVENT["order.completed"] = "FAILED"  # type: ignore[index]


def test_dedupe_key_is_event_and_flex_order_id() -> None:
    first = parse_webhook(SAMPLE)
    assert dedupe_key(first) == "order.completed:ac9674ed-cbfe-49aa-bc8b-eb1d2b74c429"
    resent = orjson.loads(SAMPLE) | {"IsResent": True, "TimeStamp": "2023-03-20T17:20:00Z"}
    assert dedupe_key(parse_webhook(orjson.dumps(resent))) == dedupe_key(first)
    refunded = orjson.loads(SAMPLE) | {"Event": "order.refunded"}
    assert dedupe_key(parse_webhook(orjson.dumps(refunded))) != dedupe_key(first)


SESSION = "ac9674ed-cbfe-49aa-bc8b-eb1d2b74c429"  # the SAMPLE's OrderId


def test_each_refund_of_an_order_has_its_own_key_and_its_redeliveries_share_it() -> None:
    """Flex sends one order.refunded per partial refund: the EventData tells them apart."""

    def key(data: Any, **more: Any) -> str:
        body = orjson.loads(SAMPLE) | {"Event": "order.refunded", "EventData": data} | more
        return dedupe_key(parse_webhook(orjson.dumps(body)))

    first = key({"Amount": 100, "Currency": "USD"})
    assert first.startswith(f"order.refunded:{SESSION}:sha256:")
    assert key({"Amount": 200, "Currency": "USD"}) != first
    assert key({"Amount": 11981, "Currency": "USD"}) not in (first, key({"Amount": 200, "Currency": "USD"}))
    resent = key({"Currency": "USD", "Amount": 100}, IsResent=True, TimeStamp="2023-03-21T00:00:00Z")
    assert resent == first  # a redelivery carries the same EventData (its keys in any order)
    assert key(None) == f"order.refunded:{SESSION}"  # no EventData: as before


def test_only_refunds_digest_their_event_data() -> None:
    for event in STATUS_BY_EVENT:
        if event != "order.refunded":
            body = orjson.loads(SAMPLE) | {"Event": event, "EventData": {"Amount": 100}}
            assert dedupe_key(parse_webhook(orjson.dumps(body))) == f"{event}:{SESSION}"


def test_dedupe_key_without_an_order_id_digests_the_event_data() -> None:
    def key(data: dict[str, Any]) -> str:
        return dedupe_key(parse_webhook(orjson.dumps({"Event": "payout.updated"} | data)))

    one = key({"EventData": {"PayoutId": "p-1", "Status": "completed"}, "IsResent": False})
    assert one.startswith("payout.updated:sha256:")
    assert key({"EventData": {"Status": "completed", "PayoutId": "p-1"}, "IsResent": True}) == one
    assert key({"EventData": {"PayoutId": "p-1", "Status": "failed"}}) != one
    assert key({"OrderId": ""}) == key({})


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_raise_anything_but_invalid_event(body: bytes) -> None:
    try:
        assert isinstance(parse_webhook(body), FlexWebhook)
    except InvalidEvent:
        pass


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    ["Event", "event", "EVENT", "OrderId", "orderId", "TimeStamp", "IsResent", "isTestMode"]
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_KEYS | st.text(max_size=12), _JSON, max_size=6), st.integers(0, 3))
def test_arbitrary_json_never_raises_anything_but_invalid_event(data: dict[str, Any], wraps: int) -> None:
    try:
        body = orjson.dumps(data)
    except orjson.JSONEncodeError:  # integers beyond 64 bits
        return
    for _ in range(wraps):
        body = orjson.dumps(body.decode())
    try:
        w = parse_webhook(body)
    except InvalidEvent:
        return
    assert w.event == w.event.strip().lower() and dedupe_key(w).startswith(w.event + ":")


def test_event_names_are_stripped_of_ascii_separators_too() -> None:
    """pydantic strips Unicode white space; the event name also loses \\x1c-\\x1f, as str.strip does."""
    assert parse_webhook(b'{"Event": " Order.Completed\\u001f"}').event == "order.completed"
    with pytest.raises(InvalidEvent):
        parse_webhook(b'{"Event": "\\u001f"}')
