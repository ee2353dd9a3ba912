"""Unit tests of the batch path's record intake and PENDING encoding (pure, no I/O)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from consumers.flows import Defaults, evaluate_body, transmit_body
from consumers.intake import Refused, event_from, may_hold_pan
from consumers.sftp.intake import BatchItem, batch_item
from consumers.sftp.registry import SentRecord
from core.merchants import Merchant, Merchants
from core.pan import find_pan, luhn_ok
from core.settings import RoutingSettings
from schemas.batch import BatchKind
from schemas.codec import encode_model
from schemas.events import ENVELOPE_ONLY, PaymentEvent
from streams.local.traffic import make_event
from streams.runtime.batch.upload import pending_status, pending_values

DEFAULTS = Defaults("mid-1", None, 14)
# one merchant sending both flows by SFTP, with DEFAULTS' mid (the events carry none)
ONE = Merchants(
    [
        Merchant(
            mid="mid-1",
            name="one",
            app_key=SecretStr("k"),
            app_secret=SecretStr("s"),
            routing=RoutingSettings(mit="sftp", transmit="sftp"),
        )
    ]
)


def batch_body(kind: BatchKind, raw: bytes | None) -> tuple[dict[str, Any], str]:
    """The body and eventId ``batch_item`` gives ``raw`` for ONE's ``kind`` file."""
    item = batch_item(kind, raw, ONE, DEFAULTS.mit_expiry_days)
    assert isinstance(item, BatchItem), item
    return item.body, item.event_id


def _event(kind: str = "mit-rebill", seed: int = 1) -> dict[str, object]:
    event = make_event(kind, f"ORD-{seed}", random.Random(seed))
    assert isinstance(event, dict)
    return event


@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111  1111--1111 1111",
        " 4111111111111111\t",
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "4111\t1111\t1111\t1111",
        "4111\r\n1111\n1111\n1111",
        "4111111111111111 exp 12/26",
    ],
)
def test_a_card_number_in_any_spelling_may_hold_pan(card: str) -> None:
    event = {"paymentMethod": {"cardNumber": card}}
    assert find_pan(event) is not None and may_hold_pan(orjson.dumps(event))
    assert may_hold_pan(orjson.dumps(event).replace(b"/", b"\\/"))  # JSON may escape a slash


def test_an_integer_or_escaped_card_number_may_hold_pan() -> None:
    assert may_hold_pan(orjson.dumps({"pan": 4111111111111111}))
    assert may_hold_pan(b'{"cardNumber": "\\u00341111111111111111"}')


def _ending_in_zeros(prefix: str, zeros: int) -> str:
    """The Luhn-valid number ``prefix``, one more digit, then ``zeros`` zeros."""
    return next(n for d in "0123456789" if luhn_ok(n := prefix + d + "0" * zeros))


@given(
    st.from_regex(r"[1-9][0-9]{1,10}", fullmatch=True),
    st.integers(13, 16),
    st.integers(0, 12),
    st.sampled_from(["e", "E", "e+", "E+"]),
    st.sampled_from(["", "-"]),
)
def test_a_card_number_with_an_exponent_passes_the_prefilter(
    prefix: str, length: int, point: int, e: str, sign: str
) -> None:
    """A float written with an exponent and without its trailing zeros (Java: 4.11111111117E15)
    may show fewer than 13 digits in a row: find_pan refuses it, so the prefilter must let it by."""
    number = _ending_in_zeros(prefix, length - len(prefix) - 1)
    digits = number.rstrip("0")
    point = min(point, len(digits))
    mantissa = f"{digits[:point] or '0'}.{digits[point:]}" if point < len(digits) else digits
    raw = f'{{"paymentMethod":{{"cardNumber":{sign}{mantissa}{e}{len(number) - point}}}}}'.encode()
    assert orjson.loads(raw)["paymentMethod"]["cardNumber"] == float(sign + number)
    assert find_pan(orjson.loads(raw)) == "paymentMethod.cardNumber"
    assert may_hold_pan(raw)


def test_an_ordinary_event_cannot_hold_a_pan() -> None:
    assert not may_hold_pan(orjson.dumps(_event()))


@given(
    st.text(alphabet="0123456789 -./\t\n\rtnrx_", min_size=13, max_size=40),
    st.sampled_from(
        [
            lambda text: {"paymentMethod": {"cardNumber": text}},
            lambda text: {"paymentMethod": {"holderName": text}},
            lambda text: {"additionalFields": [{"key": "note", "value": text}]},
        ]
    ),
)
def test_every_pan_find_pan_would_see_passes_the_prefilter(text: str, place: Any) -> None:
    event = place(text)
    if find_pan(event) is not None:
        assert may_hold_pan(orjson.dumps(event))


@pytest.mark.parametrize("seed", range(5))
def test_batch_body_is_the_bridges_evaluate_body(seed: int) -> None:
    event = _event(seed=seed)
    raw = orjson.dumps(event)
    expected = evaluate_body(event_from(orjson.loads(raw)), DEFAULTS)
    assert batch_body("evaluate", raw) == (expected, event["eventId"])


def _variants() -> list[dict[str, object]]:
    base = _event(seed=7)
    rest = {k: v for k, v in base.items() if k not in ("orderId", "isMIT")}
    return [
        {**base, "expiryDateUtc": "2030-01-02T03:04:05.678+00:00"},  # normalised to pydantic's form
        {**base, "expiryDateUtc": "2030-01-02T03:04:05-05:00"},
        {**base, "orderId": "  ORD-padded  ", "mid": " m-9 ", "siteId": "site-2"},  # stripped
        {**base, "isMIT": "true", "isRecurring": 1},  # coerced
        {**base, "customerIp": None, "someNewField": {"a": [1, None]}, "zeta": 0},  # None top-level dropped
        {**rest, "OrderId": "ORD-case", "ismit": True, "orderid": "ORD-loser"},  # case variants
    ]


def _dumped_body(event: PaymentEvent, mid: str | None, site_id: str | None) -> dict[str, Any]:
    """The body as pydantic's own dump gives it: what ``flex_body`` must equal."""
    body = {k: v for k, v in event.model_dump(by_alias=True, mode="json").items() if v is not None}
    for key in ENVELOPE_ONLY:
        body.pop(key, None)
    if mid and "mid" not in body:
        body["mid"] = mid
    if site_id and "siteId" not in body:
        body["siteId"] = site_id
    return body


@pytest.mark.parametrize("variant", range(6))
@pytest.mark.parametrize(("mid", "site_id"), [("m", None), (None, "site-d"), (None, None)])
def test_the_flex_body_is_pydantics_dump_key_for_key_in_order(
    variant: int, mid: str | None, site_id: str | None
) -> None:
    event = event_from(_variants()[variant])
    body, dumped = event.flex_body(mid=mid, site_id=site_id), _dumped_body(event, mid, site_id)
    assert body == dumped and list(body) == list(dumped)
    assert orjson.dumps(body) == orjson.dumps(dumped)  # the same bytes in a batch file or a request


def test_batch_body_for_transmit_files() -> None:
    raw = orjson.dumps(_event("approval"))
    body = transmit_body(event_from(orjson.loads(raw)), DEFAULTS)
    assert batch_body("transmit", raw) == (body, _event("approval")["eventId"])


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"{not json",
        b"[1, 2]",
        orjson.dumps(_event("cit-declined")),  # not MIT: the real-time bridge evaluates it
    ],
)
def test_records_the_bridge_handles_are_skipped(raw: bytes | None) -> None:
    assert batch_item("evaluate", raw, ONE, DEFAULTS.mit_expiry_days) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (orjson.dumps({**_event(), "eventId": ""}), "schema"),
        (orjson.dumps({**_event(), "paymentMethod": {"cardNumber": "4111 1111 1111 1111"}}), "pan-detected"),
    ],
)
def test_a_managed_mit_record_that_is_no_valid_event_is_refused_for_its_dead_letter(
    raw: bytes, reason: str
) -> None:
    refused = batch_item("evaluate", raw, ONE, DEFAULTS.mit_expiry_days)
    assert isinstance(refused, Refused) and refused.reason == reason and refused.merchant is not None
    assert refused.merchant.name == "one" and "4111" not in refused.message


def test_pending_values_are_pending_statuses_with_one_occurred_at() -> None:
    sent = [SentRecord(i, f"ORD-{i}", f"evt-{i}", f"key-{i}") for i in range(1, 4)]
    values = [orjson.loads(v) for v in pending_values("evaluate_x.json", sent)]
    assert len({v.pop("occurredAt") for v in values}) == 1
    for record, value in zip(sent, values, strict=True):
        expected = orjson.loads(encode_model(pending_status("evaluate_x.json", record)))
        expected.pop("occurredAt")
        assert value == expected
    assert pending_values("evaluate_x.json", []) == []


_AMOUNT = st.none() | st.integers(min_value=1, max_value=10**12)
_CURRENCY = st.none() | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3)


@given(
    st.lists(st.tuples(st.text(), st.text(), st.text(), _AMOUNT, _CURRENCY), min_size=1, max_size=5),
    st.none() | st.text(),
)
def test_pending_values_are_the_encoded_pending_statuses_byte_for_byte(
    fields: list[tuple[str, str, str, int | None, str | None]], mid: str | None
) -> None:
    sent = [SentRecord(i, *record) for i, record in enumerate(fields, start=1)]
    values = pending_values("evaluate_x.json", sent, mid)
    occurred = orjson.dumps(orjson.loads(values[0])["occurredAt"])
    for record, value in zip(sent, values, strict=True):
        expected = encode_model(pending_status("evaluate_x.json", record, mid))
        expected = expected.replace(orjson.dumps(orjson.loads(expected)["occurredAt"]), occurred)
        assert value == expected
