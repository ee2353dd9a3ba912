"""Flow handlers and the bridge's dead-letter decisions, with fake clients (pure logic, no I/O)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter

from consumers.flex.errors import FlexAuthFailed, FlexConflict, FlexRejected, FlexUnavailable
from consumers.flows import (
    Defaults,
    amount_detail,
    evaluate_body,
    evaluate_decline,
    mit_expiry,
    transmit_approval,
)
from consumers.order_keys import order_key
from core.settings import Settings
from schemas.events import validate_payment_event
from schemas.flex import EvaluateResponse, TransmitResponse
from streams.local.traffic import make_event
from streams.runtime.bridge import Bridge
from streams.runtime.deps import Deps
from streams.runtime.latest_statuses import LatestStatuses
from streams.runtime.ledger import Ledger
from streams.runtime.metrics import Metrics

_DATETIME = TypeAdapter(AwareDatetime)


class FakeFlex:
    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer, self.error, self.bodies = answer, error, []  # type: list[dict[str, Any]]

    async def _reply(self, body: dict[str, Any]) -> Any:
        self.bodies.append(body)
        if self.error is not None:
            raise self.error
        return self.answer

    async def transmit(self, body: dict[str, Any]) -> TransmitResponse:
        return await self._reply(body)  # type: ignore[no-any-return]

    async def evaluate(self, body: dict[str, Any]) -> EvaluateResponse:
        return await self._reply(body)  # type: ignore[no-any-return]


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Any]] = []

    async def send_and_wait(self, topic: str, value: Any, key: Any = None, **kw: Any) -> None:
        self.sent.append((topic, value, key, kw.get("headers")))

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}


def _event(kind: str = "cit-approved") -> Any:
    return validate_payment_event(make_event(kind, "ORD-1", random.Random(1)))  # type: ignore[arg-type]


async def test_evaluate_maps_flex_answers() -> None:
    flex = FakeFlex(EvaluateResponse.model_validate({"orderSessionKey": "k1", "status": "CHALLENGE"}))
    out = await evaluate_decline(_event(), flex, Defaults())
    assert out.result == "evaluated" and out.status is not None
    assert out.status.status == "CHALLENGE" and out.status.order_session_key == "k1"
    assert out.finished == {"flow": "evaluate", "status": "CHALLENGE", "orderSessionKey": "k1"}
    unknown = FakeFlex(EvaluateResponse.model_validate({"orderSessionKey": "k2", "status": "PROCESSING"}))
    out = await evaluate_decline(_event(), unknown, Defaults())
    assert out.status is not None and out.status.status == "SUBMITTED"
    assert out.status.detail["flexStatus"] == "PROCESSING"


async def test_an_answered_evaluate_tells_the_amount_and_currency_of_the_event() -> None:
    event = _event()
    flex = FakeFlex(EvaluateResponse.model_validate({"orderSessionKey": "k1", "status": "APPROVED"}))
    out = await evaluate_decline(event, flex, Defaults(mid="m-1"))
    assert out.status is not None
    amount, currency = event.transaction["amount"], event.transaction["currency"]
    assert (out.status.detail["amount"], out.status.detail["currency"]) == (amount, currency)
    rejected = await evaluate_decline(event, FakeFlex(error=FlexRejected("bad", status_code=400)), Defaults())
    assert rejected.status is not None and "amount" not in rejected.status.detail  # nothing authorised


@pytest.mark.parametrize(
    ("transaction", "found"),
    [
        ({"amount": 1250, "currency": "usd"}, {"amount": 1250, "currency": "USD"}),
        ({"amount": 0, "currency": "EUR"}, {"currency": "EUR"}),
        ({"amount": True, "currency": "US"}, {}),
        ({"amount": "12.50", "currency": "U$D"}, {}),
        ({"amount": 12.5}, {}),
        ({}, {}),
        (None, {}),
    ],
)
def test_amount_detail_takes_only_what_flex_takes(transaction: Any, found: dict[str, Any]) -> None:
    assert amount_detail(transaction) == found


@pytest.mark.parametrize(
    ("error", "result", "status", "reason"),
    [
        (
            FlexRejected("bad", status_code=400, errors={"OrderId": ["required"]}),
            "rejected",
            "REJECTED",
            "flex-rejected",
        ),
        (FlexConflict("409", status_code=409), "rejected", "REJECTED", "flex-rejected"),
        (
            FlexUnavailable(endpoint="POST /v1/evaluate", last_failure="503", attempts=7, elapsed_seconds=60),
            "failed",
            "FAILED",
            "retries-exhausted",
        ),
        (FlexAuthFailed("wrong credentials", status_code=400), "failed", "FAILED", "flex-auth"),
    ],
)
async def test_evaluate_failures_become_a_status_and_a_dead_letter(
    error: Exception, result: str, status: str, reason: str
) -> None:
    out = await evaluate_decline(_event(), FakeFlex(error=error), Defaults())
    assert out.result == result and out.status is not None and out.status.status == status
    assert out.status.reason and out.dead_letter is not None and out.dead_letter[0] == reason
    assert out.finished is None  # not finished: a redrive after the fix calls Flex again


async def test_a_conflict_names_the_reused_event_id() -> None:
    """Flex's 409: the eventId's idempotency key went with another body before (an eventId reused,
    e.g. by two merchants); the REJECTED status and the dead letter name the eventId."""
    event = _event()
    out = await evaluate_decline(event, FakeFlex(error=FlexConflict("409", status_code=409)), Defaults())
    assert out.status is not None and out.status.reason is not None and out.dead_letter is not None
    assert out.status.reason.startswith("idempotency key reused with a different body")
    assert f"eventId {event.event_id} was sent before" in out.status.reason
    assert "unique across all merchants" in out.dead_letter[1]


async def test_transmit_outcomes() -> None:
    ok = await transmit_approval(
        _event("approval"), FakeFlex(TransmitResponse.model_validate({"transmitId": "t"})), Defaults()
    )
    assert (
        ok.result == "transmitted"
        and ok.status is None
        and ok.finished == {"flow": "transmit", "transmitId": "t"}
    )
    gone = FlexUnavailable(
        endpoint="POST /v1/transmit", last_failure="timeout", attempts=3, elapsed_seconds=60
    )
    failed = await transmit_approval(_event("approval"), FakeFlex(error=gone), Defaults())
    assert (
        failed.status is None
        and failed.dead_letter is not None
        and failed.dead_letter[0] == "retries-exhausted"
    )


def _bridge(producer: FakeProducer, flex: FakeFlex, latest: LatestStatuses | None = None) -> Bridge:
    deps = Deps.build(Settings(), producer, Metrics())  # type: ignore[arg-type]
    ledger = Ledger(deps.kafka, deps.topics.ledger, producer)  # type: ignore[arg-type]
    return Bridge(deps, flex, ledger, latest=latest)  # type: ignore[arg-type]


def _record(value: bytes, topic: str = "payments.declined") -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 2, 41, 0, 0, b"ORD-1", value, None, len(value), 5, [("trace", b"t1")])


async def test_a_bug_dead_letters_the_record_instead_of_holding_the_partition() -> None:
    producer = FakeProducer()
    bridge = _bridge(producer, FakeFlex(error=ZeroDivisionError("secret card 4111111111111111")))
    value = orjson.dumps(make_event("cit-approved", "ORD-1", random.Random(2)))
    await bridge.handle(_record(value))
    [(topic, sent, key, headers)] = producer.sent
    h = dict(headers)
    assert topic == "payments.dlq" and sent == value and key == b"ORD-1"
    assert h["dlq-reason"] == b"internal-error" and b"4111" not in h["dlq-error"]
    assert h["trace"] == b"t1" and h["dlq-source-offset"] == b"41" and h["dlq-source-partition"] == b"2"


async def test_a_late_answer_about_an_order_its_news_moved_on_is_published_marked_late() -> None:
    """Flex's answer (CAPTUREREQUIRED for Flex order S1) came after the order's webhooks and a
    capture moved S1 on to APPROVED: it is still the event's outcome, published with detail.late
    (before the ledger entry) and counted. The same answer about the order as it stands is not marked."""
    answer = EvaluateResponse.model_validate({"orderSessionKey": "S1", "status": "CAPTUREREQUIRED"})
    value = orjson.dumps(make_event("cit-approved", "ORD-1", random.Random(4)))
    first = FakeProducer()
    latest = LatestStatuses()
    await _bridge(first, FakeFlex(answer), latest).handle(_record(value))  # the order as it stands
    [news] = [orjson.loads(v) for t, v, *_ in first.sent if t == "orders.status"]
    assert news["orderSessionKey"] == "S1" and news["status"] == "CAPTUREREQUIRED"
    assert "late" not in news["detail"] and news["reason"] is None
    key = order_key("ORD-1", news["detail"].get("mid"), by_merchant=True)
    latest.observe(key, "APPROVED", "webhook", "2026-01-01T10:00:00Z", "S1")
    late = FakeProducer()
    bridge = _bridge(late, FakeFlex(answer), latest)
    await bridge.handle(_record(value))
    assert [t for t, *_ in late.sent] == ["orders.status", "flexbridge.ledger"]
    marked = orjson.loads(late.sent[0][1])
    assert marked["detail"] == {**news["detail"], "late": True} and "later news" in marked["reason"]
    assert {k: v for k, v in marked.items() if k not in ("detail", "reason", "occurredAt")} == {
        k: v for k, v in news.items() if k not in ("detail", "reason", "occurredAt")
    }
    counted = bridge._metrics.registry.get_sample_value(
        "flexbridge_late_statuses_total", {"source": "evaluate", "merchant": "default"}
    )
    assert counted == 1


async def test_pan_is_masked_in_the_dead_letter() -> None:
    producer = FakeProducer()
    bridge = _bridge(producer, FakeFlex())
    raw = orjson.dumps(make_event("raw-pan", "ORD-1", random.Random(3)))
    await bridge.handle(_record(raw))
    [(topic, sent, _, headers)] = producer.sent
    assert topic == "payments.dlq" and dict(headers)["dlq-reason"] == b"pan-detected"
    assert sent is not None and b"4111111111111111" not in sent and b"************1111" in sent
    assert len(sent) == len(raw)  # only the digits changed


@settings(max_examples=300, deadline=None)
@given(
    at=st.datetimes(max_value=datetime(9000, 1, 1)),  # noqa: DTZ001 (hypothesis bounds are naive)
    offset_minutes=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    days=st.integers(min_value=0, max_value=3650),
)
def test_mit_expiry_is_the_iso_text_of_the_shifted_date(at: datetime, offset_minutes: int, days: int) -> None:
    """The MIT expiry default: the same text as the isoformat of occurredAt + days, UTC as Z."""
    occurred = _DATETIME.validate_python(at.replace(tzinfo=timezone(timedelta(minutes=offset_minutes))))
    expected = (occurred + timedelta(days=days)).isoformat().replace("+00:00", "Z")
    assert mit_expiry(occurred, days) == expected


def test_evaluate_body_sets_the_mit_expiry_from_occurred_at() -> None:
    event = _event("mit-rebill")
    assert event.is_mit and event.expiry_date_utc is None
    body = evaluate_body(event, Defaults(mit_expiry_days=14))
    expected = (event.occurred_at + timedelta(days=14)).isoformat().replace("+00:00", "Z")
    assert body["expiryDateUtc"] == expected and expected.endswith("Z")
