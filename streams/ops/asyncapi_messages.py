"""The messages of flexbridge's AsyncAPI document: payload schemas generated from the pydantic
models, Kafka keys and headers, and examples (streams/ops/asyncapi_examples.py). Pure; no Kafka."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from schemas.commands import OrderCommand
from schemas.dlq import MASKED_HEADER, OMITTED_HEADER, DlqReason
from schemas.dlq import MERCHANT_HEADER as DLQ_MERCHANT_HEADER
from schemas.events import PaymentEvent
from schemas.replay import FORCE_HEADER
from schemas.status import OrderStatus
from schemas.webhooks import FlexWebhook
from streams.ops import asyncapi_examples as ex
from streams.runtime.webhooks import DEDUPE_HEADER, MERCHANT_HEADER

__all__ = ["BINDING_VERSION", "messages", "schemas"]

BINDING_VERSION = "0.5.0"  # the AsyncAPI Kafka bindings
_MODELS: tuple[tuple[type[BaseModel], JsonSchemaMode], ...] = (
    (PaymentEvent, "validation"),  # what publishers may send
    (OrderCommand, "validation"),
    (OrderStatus, "serialization"),  # what flexbridge writes
    (FlexWebhook, "validation"),  # the body as Flex sends it, published unchanged
)


def schemas() -> dict[str, Any]:
    """``components.schemas``: each model's JSON schema, nested models hoisted beside it."""
    refs, top = models_json_schema(_MODELS, ref_template="#/components/schemas/{model}")
    found: dict[str, Any] = dict(top.get("$defs", {}))
    for (model, _mode), ref in refs.items():
        if "$ref" not in ref:
            found[model.__name__] = ref
    return dict(sorted(found.items()))


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


_NOTES: dict[str, dict[str, Any]] = {
    "replay-of": _string("the original record, TOPIC/PARTITION/OFFSET"),
    "replay-id": _string("the replay or redrive run that sent this copy (its phases are on the audit topic)"),
    "replay-count": _string("how many times this content was replayed, 1 the first time", pattern="^[0-9]+$"),
    FORCE_HEADER: _string("present when the run re-processes finished events (--force)", enum=["1"]),
    "dlq-reason": _string("machine code of the failure", enum=list(get_args(DlqReason))),
    "dlq-error": _string("human text, at most 1,000 characters; no secrets or card data"),
    "dlq-source-topic": _string("the topic the record was read from"),
    "dlq-source-partition": _string("its partition", pattern="^[0-9]+$"),
    "dlq-source-offset": _string("its offset", pattern="^[0-9]+$"),
    "dlq-failed-at": _string("when flexbridge gave up, ISO-8601", format="date-time"),
    DLQ_MERCHANT_HEADER: _string("the name of the record's merchant, when flexbridge knew it"),
    OMITTED_HEADER: _string(
        "present when the record was too large for the DLQ topic: what its dead letter left out (the "
        "value and the original headers); the record is still at its dlq-source-* position"
    ),
    MASKED_HEADER: _string(
        "present when card data was masked: which parts (value, key, headers; 'value (left out)' when "
        "the value had to go). Never redriven: replay the record from its dlq-source-* position"
    ),
    DEDUPE_HEADER: _string(
        "the webhook's dedupe key (docs/webhooks.md): event:OrderId; for an order.refunded with "
        "EventData, order.refunded:OrderId:sha256:<digest of EventData>; without an OrderId, "
        "event:sha256:<digest of ExternalOrderId and EventData>. Received on a merchant's path "
        "/webhooks/flex/{name}, it is prefixed with the merchant's name and a slash "
        "(acme/order.completed:…), except for the merchant of the single-merchant settings. A "
        "redelivery is published once. On an OrderStatus it is the eventId, without that prefix."
    ),
    MERCHANT_HEADER: _string(
        "the name of the merchant whose path /webhooks/flex/{name} received the webhook (absent "
        "for the plain path /webhooks/flex)"
    ),
}


def _headers(names: Sequence[str], required: Sequence[str] = ()) -> dict[str, Any]:
    """The schema of Kafka headers ``names`` (values are UTF-8 strings)."""
    schema: dict[str, Any] = {"type": "object", "properties": {n: _NOTES[n] for n in names}}
    if required:
        schema["required"] = list(required)
    return schema


def _names(pairs: ex.Headers) -> list[str]:
    return [name for name, _ in pairs]


def _key(description: str) -> dict[str, Any]:
    return {"kafka": {"key": _string(description), "bindingVersion": BINDING_VERSION}}


_ORDER_KEY = "the merchant orderId, UTF-8: every record of one order goes to one partition, in order"


def _example(name: str, key: str, payload: Any, headers: ex.Headers | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "summary": f"record key {key}"}
    if headers:
        found["headers"] = {k: v.decode() for k, v in headers}
    found["payload"] = payload
    return found


def _message(title: str, summary: str, payload: dict[str, Any], **parts: Any) -> dict[str, Any]:
    return {
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "payload": payload,
        **parts,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _order_message(
    model: str, summary: str, headers: dict[str, Any], examples: list[dict[str, Any]]
) -> dict[str, Any]:
    """A message whose value is the pydantic ``model`` and whose key is the order's id."""
    return _message(
        model, summary, _ref(model), headers=headers, bindings=_key(_ORDER_KEY), examples=examples
    )


def _inputs() -> dict[str, dict[str, Any]]:
    """What flexbridge reads from upstream and downstream: payments and commands (replays too)."""
    replay = ex.replay_pairs()
    payment = ex.payment_example()
    summary = (
        "A processed payment: a Flex-shaped transaction body plus an envelope (eventId, occurredAt, "
        "orderId). Unknown fields are kept and passed on; a card number is refused to the DLQ."
    )
    return {
        "paymentEvent": _order_message(
            "PaymentEvent",
            summary,
            _headers(_names(replay)),
            [
                _example("declined", ex.ORDER_ID, payment),
                _example("replayed", ex.ORDER_ID, payment, replay),
            ],
        ),
        "orderCommand": _order_message(
            "OrderCommand",
            "Refund, cancel or capture an order (amount in cents).",
            _headers(_names(replay)),
            [_example("refund", ex.ORDER_ID, ex.command_example())],
        ),
    }


def _webhook_examples(payload: Callable[[str | None], Any], what: str) -> list[dict[str, Any]]:
    """One example per path: a merchant's ``/webhooks/flex/acme`` and the plain ``/webhooks/flex``."""
    named, plain = ex.webhook_headers(ex.MERCHANT), ex.webhook_headers(None)
    return [
        _example(f"{what} (POST /webhooks/flex/{ex.MERCHANT})", ex.ORDER_ID, payload(ex.MERCHANT_MID), named),
        _example(f"{what} (POST /webhooks/flex, single merchant)", ex.ORDER_ID, payload(None), plain),
    ]


def _outputs() -> dict[str, dict[str, Any]]:
    """What flexbridge publishes for downstream services: statuses, webhooks, dead letters."""
    marks = [DEDUPE_HEADER, MERCHANT_HEADER]
    dlq = ex.dlq_pairs()
    optional = [DLQ_MERCHANT_HEADER, OMITTED_HEADER, MASKED_HEADER]
    dead = _message(
        "Dead letter",
        "A record flexbridge could not process: its original key, value bytes and headers, plus the "
        "dlq-* headers. Card data is masked where the record may carry some (refused as pan-detected, "
        "a card number in a card field, a value that is no JSON object), and then in the key and "
        "headers too, as dlq-masked says; otherwise they are unchanged. The value is usually a "
        "PaymentEvent or an OrderCommand, but may be anything the source topic held (often why it is "
        "here).",
        {},
        headers=_headers([*_names(dlq), *optional], _names(dlq)),
        bindings=_key("the original record's key (card numbers masked when dlq-masked names the key)"),
        examples=[_example("rejected by Flex", ex.ORDER_ID, ex.payment_example(), dlq)],
    )
    return {
        "orderStatus": _order_message(
            "OrderStatus",
            "Where an order stands (source: evaluate, batch, webhook, command, bridge or reconcile). "
            "Only a webhook's status has headers: those of its webhook record.",
            _headers(marks),
            _webhook_examples(ex.status_example, "approved by webhook"),
        ),
        "flexWebhook": _order_message(
            "FlexWebhook",
            "A Flex webhook whose signature verified, its body unchanged (keyed by its ExternalOrderId).",
            _headers(marks, [DEDUPE_HEADER]),
            _webhook_examples(lambda _mid: ex.webhook_body(), "order.completed"),
        ),
        "deadLetter": {**dead, "contentType": "application/octet-stream"},
    }


_INTERNAL = {  # message id: (title, summary, key, example)
    "ledgerEntry": (
        "Ledger entry",
        "A finished effect (an event transmitted or evaluated: flow, status, orderSessionKey, eventId, "
        "orderId; or put in a batch file renamed into Flex's inbound folder: flow, batchFile): a "
        "redelivered or replayed event found here makes no second Flex call. Written to the partition "
        "numbered like the source partition.",
        "FLOW:eventId (FLOW is transmit or evaluate)",
        ex.ledger_example,
    ),
    "auditRecord": (
        "Audit record",
        "One phase (started, progress, interrupted, finished) of a replay or redrive: who ran it, "
        "where, when, what it selected and what it sent.",
        "the replay id",
        ex.audit_example,
    ),
    "batchEntry": (
        "Batch registry entry",
        "An SFTP batch file's records still waiting for a result; a null value (tombstone) forgets a "
        "settled file. The topic is compacted.",
        "the batch file name",
        ex.batch_example,
    ),
}


def _internal() -> dict[str, dict[str, Any]]:
    """The topics only flexbridge reads and writes: a JSON object each, no pydantic model."""
    found = {}
    for message_id, (title, summary, key, example) in _INTERNAL.items():
        record_key, value = example()
        payload = {"type": "object", "additionalProperties": True}
        examples = [_example("entry", record_key, value)]
        found[message_id] = _message(title, summary, payload, bindings=_key(key), examples=examples)
    return found


def messages() -> dict[str, dict[str, Any]]:
    """``components.messages``, by message id."""
    return {**_inputs(), **_outputs(), **_internal()}
