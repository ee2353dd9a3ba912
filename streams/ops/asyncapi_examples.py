"""Examples for flexbridge's AsyncAPI document, built from real model instances at a fixed time
(so that the document does not change from one day to the next)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.keys import event_key
from consumers.webhooks.keys import scoped_key
from schemas.batch import file_name
from schemas.commands import OrderCommand
from schemas.dlq import dlq_headers
from schemas.events import validate_payment_event
from schemas.webhooks import dedupe_key, order_status, parse_webhook
from streams.local.traffic import make_event
from streams.ops.selection import provenance_headers
from streams.runtime.webhooks import publication_headers

__all__ = [
    "MERCHANT",
    "MERCHANT_MID",
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
    "webhook_body",
    "webhook_headers",
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


MERCHANT = "acme"  # the merchant of the named-path examples (a merchants file's name)
MERCHANT_MID = "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31"


def webhook_body() -> dict[str, Any]:
    """An ``order.completed`` body as Flex sends it."""
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
    return webhook.model_dump(mode="json", by_alias=True, exclude_none=True)


def webhook_headers(merchant: str | None) -> Headers:
    """The headers the receiver puts on :func:`webhook_body`'s records, received on merchant
    ``merchant``'s path ``/webhooks/flex/{name}`` (None: the single merchant's ``/webhooks/flex``)."""
    key = scoped_key(merchant, dedupe_key(parse_webhook(orjson.dumps(webhook_body()))))
    return publication_headers(key, merchant)


def status_example(mid: str | None = MERCHANT_MID) -> dict[str, Any]:
    """The ``orders.status`` record the receiver makes of :func:`webhook_body` (its merchant ``mid``)."""
    status = order_status(parse_webhook(orjson.dumps(webhook_body())), mid)
    if status is None:
        raise TypeError("order.completed makes no status")
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
    entry = {"flow": "evaluate", "status": "CHALLENGE", "orderSessionKey": _SESSION}  # bridge.py's
    return f"evaluate:{eid}", {**entry, "eventId": eid, "orderId": ORDER_ID}


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
