"""Examples for flexbridge's AsyncAPI document, built from real model instances at a fixed time
(so that the document does not change from one day to the next)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.keys import event_key
from schemas.batch import file_name
from schemas.commands import OrderCommand
from schemas.dlq import dlq_headers
from schemas.events import validate_payment_event
from schemas.status import status_of
from schemas.webhooks import dedupe_key, parse_webhook
from streams.local.traffic import make_event
from streams.ops.selection import provenance_headers

__all__ = [
    "ORDER_ID",
    "WHEN",
    "Headers",
    "audit_example",
    "batch_example",
    "command_example",
    "dlq_pairs",
    "event_id",
    "ledger_example",
    "payment_example",
    "replay_pairs",
    "status_example",
    "webhook_example",
]

Headers = list[tuple[str, bytes]]
WHEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ORDER_ID = "ORD-1001"
_SESSION = "7f9c2ba4-e88f-11e9-81b4-2a2ae2dbcce4"
_SOURCE = ("payments.declined", 3, 1234)


def payment_example() -> dict[str, Any]:
    """A declined card-not-present payment from the traffic generator, stamped at :data:`WHEN`."""
    event = make_event("cit-challenge", ORDER_ID, random.Random(7))  # a fixed example  # noqa: S311
    if not isinstance(event, dict):
        raise TypeError("the traffic generator made no JSON event")
    moment, fixed = event["occurredAt"], WHEN.isoformat().replace("+00:00", "Z")

    def pin(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: pin(v) for k, v in value.items()}
        return fixed if value == moment else value

    pinned: dict[str, Any] = pin(event)
    validate_payment_event(pinned)  # raises unless the example is a valid PaymentEvent
    return pinned


def event_id() -> str:
    """The eventId of :func:`payment_example`."""
    return str(payment_example()["eventId"])


def webhook_example() -> tuple[dict[str, Any], str]:
    """An ``order.completed`` body as Flex sends it, and its dedupe key."""
    body = {
        "Event": "order.completed",
        "TimeStamp": WHEN.isoformat(),
        "ExternalOrderId": ORDER_ID,
        "OrderId": _SESSION,
        "ConfirmationId": "0d4a7f",
        "IsTestMode": False,
        "IsResent": False,
    }
    webhook = parse_webhook(orjson.dumps(body))
    return webhook.model_dump(mode="json", by_alias=True, exclude_none=True), dedupe_key(webhook)


def status_example() -> dict[str, Any]:
    _, key = webhook_example()
    detail = {"event": "order.completed", "mid": "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31"}
    status = status_of(
        ORDER_ID, "APPROVED", "webhook", key, session_key=_SESSION, detail=detail, occurred_at=WHEN
    )
    return status.model_dump(mode="json", by_alias=True)


def command_example() -> dict[str, Any]:
    command = OrderCommand(
        command_id="cmd-5d41402a", type="refund", order_id=ORDER_ID, amount=1250, currency="USD"
    )
    return command.model_dump(mode="json", by_alias=True, exclude_none=True)


def replay_pairs() -> Headers:
    origin = "/".join(str(part) for part in _SOURCE)
    return provenance_headers([], origin=origin, replay_id="replay-0a1b2c3d4e5f", force=True)


def dlq_pairs() -> Headers:
    topic, partition, offset = _SOURCE
    error = "POST /v1/evaluate: 400: transaction.amount must be positive"
    pairs = dlq_headers(reason="flex-rejected", error=error, topic=topic, partition=partition, offset=offset)
    return [(k, WHEN.isoformat().encode() if k == "dlq-failed-at" else v) for k, v in pairs]


def ledger_example() -> tuple[str, dict[str, Any]]:
    eid = event_id()
    return f"evaluate:{eid}", {"status": "CHALLENGE", "eventId": eid, "orderId": ORDER_ID}


def audit_example() -> tuple[str, dict[str, Any]]:
    replay_id = "replay-0a1b2c3d4e5f"
    record = {
        "action": "replay",
        "replayId": replay_id,
        "phase": "finished",
        "who": "ops",
        "host": "ops-1",
        "at": WHEN.isoformat(),
    }
    return replay_id, record


def batch_example() -> tuple[str, dict[str, Any]]:
    topic, partition, offset = _SOURCE
    name = file_name("evaluate", topic, partition, offset)
    eid = event_id()
    entry = {
        "file": name,
        "uploadedAt": WHEN.timestamp(),
        "answered": False,
        "records": [[1, ORDER_ID, eid, event_key(eid)]],
    }
    return name, entry
