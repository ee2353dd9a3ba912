"""Property tests of the event decoder (consumers/intake.py ``decode_and_route``): whatever bytes
arrive on an input topic, the decoder answers a PaymentEvent or a refusal whose reason is a DLQ
reason, quickly, and the bridge turns every bad record into exactly one dead letter, logging no
card number."""

from __future__ import annotations

import logging
import random
from typing import Any, get_args

import orjson
import pytest
from aiokafka import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.intake import Routed, decode_and_route, event_from
from core.errors import InvalidEvent
from core.pan import find_pan
from core.settings import RoutingSettings, Settings
from schemas.dlq import DlqReason
from schemas.events import PaymentEvent
from streams.local.traffic import make_event
from streams.runtime.bridge import Bridge
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger
from streams.runtime.logs import JsonFormatter, bind
from streams.runtime.metrics import Metrics
from tests.fuzz.test_strategies import (
    escaped_json,
    json_values,
    odd_text,
    pan_runs,
    pans,
    surrogate_text,
    truncations,
)
from tests.unit.consumers.test_flows import FakeFlex, FakeProducer

REASONS = frozenset(get_args(DlqReason))
REQUIRED = ("eventId", "occurredAt", "orderId", "transaction", "payer", "paymentMethod")
CARD_FIELDS = ("cardNumber", "CardNumber", "card_number", "pan", "accountNumber", "number")


def _valid(seed: int = 1) -> dict[str, Any]:
    event = make_event("approval", f"ORD-FZ-{seed}", random.Random(seed))
    assert isinstance(event, dict)
    return event


VALID = orjson.dumps(_valid())


def _decode(raw: bytes | None) -> PaymentEvent | InvalidEvent:
    """The decoder's answer (a refusal as the InvalidEvent it stands for); any exception fails the test."""
    answer = decode_and_route(raw, "evaluate", RoutingSettings())
    if isinstance(answer, Routed):
        return answer.event
    assert answer.reason in REASONS, answer.reason
    assert answer.message and not pan_runs(answer.message)
    return InvalidEvent(answer.message, reason=answer.reason)


def test_the_valid_event_decodes() -> None:
    assert isinstance(_decode(VALID), PaymentEvent)


@given(st.binary(max_size=4096))
def test_arbitrary_bytes_decode_or_give_a_dlq_reason(raw: bytes) -> None:
    _decode(raw)


@given(truncations(VALID))
def test_truncated_json_is_a_schema_dead_letter(raw: bytes) -> None:
    answer = _decode(raw)
    assert isinstance(answer, InvalidEvent) and answer.reason == "schema"


@given(json_values)
def test_any_json_value_decodes_or_gives_a_dlq_reason(value: Any) -> None:
    _decode(orjson.dumps(value))


_INTEGERS = st.integers(-(2**63), 2**64 - 1)  # what orjson writes (a longer literal: the test below)
_WRONG = {
    "eventId": _INTEGERS | st.lists(st.text()) | st.just("") | st.just("   ") | st.none(),
    "orderId": st.floats(allow_nan=False) | st.dictionaries(st.text(), st.text()) | st.just("") | st.none(),
    "occurredAt": st.just("yesterday") | st.just("2026-11-24T10:00:00") | st.none(),
    "transaction": st.text() | _INTEGERS | st.lists(_INTEGERS) | st.none(),
    "payer": st.text() | st.booleans() | st.none(),
    "paymentMethod": st.text() | st.floats(allow_nan=False) | st.none(),
}


@given(st.sampled_from(REQUIRED).flatmap(lambda f: st.tuples(st.just(f), _WRONG[f])), st.booleans())
def test_a_missing_or_wrongly_typed_required_field_is_a_schema_dead_letter(
    wrong: tuple[str, Any], drop: bool
) -> None:
    field, value = wrong
    event = _valid()
    if drop:
        del event[field]
    else:
        event[field] = value
    answer = _decode(orjson.dumps(event))
    assert isinstance(answer, InvalidEvent)
    # a wrong value that is itself a card number (an integral float of 16 digits) is refused as one
    assert answer.reason == "schema" or (answer.reason == "pan-detected" and find_pan({field: value}))
    assert field in str(answer) or "root" in str(answer)


def test_an_integer_literal_past_64_bits_is_read_and_refused_as_a_schema_violation() -> None:
    """A producer may write any integer (Python's json does); orjson reads one past 64 bits as a float."""
    raw = orjson.dumps(_valid()).replace(b'"transaction":{', b'"transaction":-9223372036854775809,"was":{', 1)
    answer = _decode(raw)
    assert isinstance(answer, InvalidEvent) and answer.reason == "schema" and "transaction" in str(answer)


@given(st.sampled_from(("paymentMethod", "payer", "transaction")), st.sampled_from(CARD_FIELDS), pans())
def test_a_card_number_is_refused_and_never_quoted(where: str, field: str, pan: str) -> None:
    event = _valid()
    if field == "number" and where != "paymentMethod":
        where = "paymentMethod"  # "number" is a card number only inside a payment method
    event[where] = {**event[where], field: pan}
    answer = _decode(orjson.dumps(event))
    assert isinstance(answer, InvalidEvent) and answer.reason == "pan-detected"
    assert pan.replace(" ", "").replace("-", "") not in str(answer)


@given(st.sampled_from(("eventId", "orderId", "mid", "siteId")), surrogate_text)
def test_odd_unicode_in_the_envelope_decodes_or_gives_a_dlq_reason(field: str, text: str) -> None:
    event = _valid()
    event[field] = text
    answer = _decode(escaped_json(event))
    if isinstance(answer, PaymentEvent):
        assert answer.model_dump(by_alias=True)[field].strip() == text.strip()  # nothing else changed


@settings(max_examples=25)
@given(
    st.sampled_from([2_000_000]) | st.integers(1, 2_000_000),
    st.sampled_from([1025, 3000]) | st.integers(1, 3000),
    st.sampled_from(("string", "nested", "keys")),
)
def test_huge_payloads_are_answered_quickly(size: int, depth: int, shape: str) -> None:
    event: dict[str, Any] = _valid()
    if shape == "string":
        event["transaction"] = {**event["transaction"], "note": "x" * size}
        raw = orjson.dumps(event)
    elif shape == "nested":  # past orjson's nesting limit (1024) or not
        raw = VALID[:-1] + b',"orderItems":' + b"[" * depth + b"{}" + b"]" * depth + b"}"
    else:
        event["additionalFields"] = {f"k{i}": i for i in range(min(size, 50_000))}
        raw = orjson.dumps(event)
    _decode(raw)


@given(json_values)
def test_event_from_takes_any_decoded_object(value: Any) -> None:
    data = value if isinstance(value, dict) else {"eventId": value}
    try:
        event_from(data)
    except InvalidEvent as exc:
        assert exc.reason in REASONS


@pytest.fixture
def json_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    caplog.handler.setFormatter(JsonFormatter())
    return caplog


def _record(key: bytes, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("payments.declined", 1, 7, 0, 0, key, value, None, len(key), len(value), [])


def _card_inputs() -> st.SearchStrategy[tuple[str, bytes, str]]:
    """A card number, a record value that carries it (valid JSON around it or not), and how."""

    def wrap(pan: str, how: str, junk: str) -> tuple[str, bytes, str]:
        event = _valid()
        if how == "field":
            event["paymentMethod"] = {**event["paymentMethod"], "cardNumber": pan}
            return pan, orjson.dumps(event), how
        if how == "envelope":
            return pan, orjson.dumps({**event, "eventId": pan, "orderId": pan}), how
        if how == "envelope-bad":
            return pan, orjson.dumps({**event, "eventId": pan, "orderId": pan, "transaction": pan}), how
        return pan, f"{junk}{pan}{junk}".encode(), how

    return st.builds(
        wrap, pans(), st.sampled_from(("field", "envelope", "envelope-bad", "garbage")), odd_text
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_card_inputs())
async def test_bad_records_become_one_dead_letter_and_no_log_line_holds_a_card_number(
    json_logs: pytest.LogCaptureFixture, card: tuple[str, bytes, str]
) -> None:
    pan, value, how = card
    json_logs.clear()
    producer = FakeProducer()
    deps = Deps.build(Settings(), producer, Metrics())  # type: ignore[arg-type]
    bridge = Bridge(deps, FakeFlex(), Ledger(deps.kafka, deps.topics.ledger, producer))  # type: ignore[arg-type]
    bind(orderId=pan, topic="payments.declined", partition=1, offset=7)  # as the pipeline binds the key
    await bridge.handle(_record(pan.encode(), value))
    dead = [s for s in producer.sent if s[0] == deps.topics.dlq]
    lines = [json_logs.handler.format(r) for r in json_logs.records]
    if how != "envelope":  # a card number in a field, a schema violation, or no JSON object at all
        assert len(dead) == 1, how
    if dead:
        [(_, sent, key, headers)] = dead
        assert dict(headers)["dlq-reason"].decode() in REASONS
        assert not pan_runs(dict(headers)["dlq-error"].decode())
        if dict(headers)["dlq-reason"] == b"pan-detected":
            assert sent is not None and not pan_runs(sent.decode(errors="replace"))  # masked
            assert key is not None and not pan_runs(key.decode())  # the card number is the key too
        assert lines, "a dead letter is logged: without lines the check below proves nothing"
    for line in lines:
        assert not pan_runs(line), line
