"""``flexbridge asyncapi``: the AsyncAPI 3.0 document of every topic flexbridge reads or writes.

Pure (no Kafka): the channels are the configured topic names, the messages come from
streams/ops/asyncapi_messages.py (schemas generated from the pydantic models). Operations are
from flexbridge's point of view: ``receive`` what it consumes, ``send`` what it produces. The
committed copy is docs/asyncapi.yaml (a unit test fails when it is stale).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.settings import TopicSettings
from streams.ops.asyncapi_messages import BINDING_VERSION, messages, schemas

__all__ = ["add_asyncapi_parser", "document", "render"]

_VERSION = "0.1.0"

# channel id: (TopicSettings field, message ids, who else reads or writes it)
_CHANNELS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "paymentsApproved": (
        "approved",
        ("paymentEvent",),
        "Approved payments, published by the upstream payment processor. flexbridge copies each to Flex "
        "(/transmit, or a transmit batch file over SFTP).",
    ),
    "paymentsDeclined": (
        "declined",
        ("paymentEvent",),
        "Declined payments, published by the upstream payment processor. flexbridge submits each to Flex "
        "for rescue (/evaluate; merchant-initiated ones as SFTP batch files when routed so).",
    ),
    "ordersCommands": (
        "commands",
        ("orderCommand",),
        "Refund, cancel and capture requests from downstream services and operators.",
    ),
    "ordersStatus": (
        "status",
        ("orderStatus",),
        "Every order's status as flexbridge learns it; read by downstream services (fulfilment, "
        "customer messaging, finance). flexbridge reads it back into its order-state table.",
    ),
    "flexWebhooks": (
        "webhooks",
        ("flexWebhook",),
        "Every verified Flex webhook, body unchanged, for downstream services that want Flex's own "
        "events. flexbridge reads it back to drop redeliveries.",
    ),
    "paymentsDlq": (
        "dlq",
        ("deadLetter",),
        "Records flexbridge could not process. Operators list, inspect and redrive them "
        "(flexbridge dlq); a redrive sends them back to their source topic with replay headers.",
    ),
    "ledger": ("ledger", ("ledgerEntry",), "flexbridge's own record of finished effects (internal)."),
    "audit": ("audit", ("auditRecord",), "Who replayed or redrove what, and when (flexbridge replay, dlq)."),
    "batches": ("batches", ("batchEntry",), "The durable SFTP batch registry (internal, compacted)."),
}

# operation id: (action, channel id, what flexbridge does)
_OPERATIONS: dict[str, tuple[str, str, str]] = {
    "transmitApproved": ("receive", "paymentsApproved", "The worker copies each approved payment to Flex."),
    "evaluateDeclined": ("receive", "paymentsDeclined", "The worker submits each declined payment to Flex."),
    "runCommands": ("receive", "ordersCommands", "The worker calls Flex for each command."),
    "replayPayments": (
        "send",
        "paymentsDeclined",
        "flexbridge replay and dlq redrive send records back (either payments topic), with replay headers.",
    ),
    "replayCommands": ("send", "ordersCommands", "flexbridge replay and dlq redrive, with replay headers."),
    "publishStatus": ("send", "ordersStatus", "The worker publishes every status change."),
    "loadOrderState": ("receive", "ordersStatus", "The worker keeps each order's state from the statuses."),
    "publishWebhooks": ("send", "flexWebhooks", "The webhook receiver publishes each verified webhook."),
    "loadWebhookDedupe": ("receive", "flexWebhooks", "The receiver reloads recent dedupe keys at start."),
    "deadLetter": ("send", "paymentsDlq", "The worker dead-letters what it cannot process."),
    "readDeadLetters": ("receive", "paymentsDlq", "flexbridge dlq list, show and redrive."),
    "recordLedger": ("send", "ledger", "The worker records each finished effect."),
    "loadLedger": ("receive", "ledger", "The worker reads back the entries of its assigned partitions."),
    "writeAudit": ("send", "audit", "flexbridge replay and dlq redrive record each phase."),
    "readAudit": ("receive", "audit", "flexbridge replay --resume reads the run it continues."),
    "recordBatches": ("send", "batches", "The batch path records each uploaded file and its settlement."),
    "loadBatches": ("receive", "batches", "The batch path reads back its partitions' files."),
}


def _channels(topics: TopicSettings) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for channel_id, (field, message_ids, description) in _CHANNELS.items():
        name = getattr(topics, field)
        kafka: dict[str, Any] = {"topic": name, "bindingVersion": BINDING_VERSION}
        if field == "batches":
            kafka["topicConfiguration"] = {"cleanup.policy": ["compact"]}
        found[channel_id] = {
            "address": name,
            "title": name,
            "description": f"{description} Renamed by FLEXBRIDGE_TOPICS__{field.upper()}.",
            "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in message_ids},
            "bindings": {"kafka": kafka},
        }
    return found


def _operations() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for operation_id, (action, channel_id, summary) in _OPERATIONS.items():
        _, message_ids, _ = _CHANNELS[channel_id]
        found[operation_id] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in message_ids],
        }
    return found


_DESCRIPTION = (
    "flexbridge bridges a Kafka stream of payment events to Flex, the payment-rescue service. The "
    "upstream payment processor publishes approved and declined payments; downstream services "
    "publish order commands and read order statuses, verified Flex webhooks and dead letters. "
    "Every record is JSON keyed by the merchant orderId (UTF-8), except where a message says "
    "otherwise. Operations are from flexbridge's point of view."
)


def document(topics: TopicSettings | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for ``topics`` (default: the default topic names)."""
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "flexbridge", "version": _VERSION, "description": _DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The cluster FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS names.",
            }
        },
        "channels": _channels(topics or TopicSettings()),
        "operations": _operations(),
        "components": {"messages": messages(), "schemas": schemas()},
    }


def render(doc: dict[str, Any], *, as_json: bool = False) -> str:
    """``doc`` as YAML (or JSON), keys in document order."""
    import orjson

    if as_json:
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
    import yaml

    plain = orjson.loads(orjson.dumps(doc))  # no shared objects, so no YAML anchors and aliases
    return str(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=100))


def add_asyncapi_parser(sub: Any) -> None:
    p = sub.add_parser("asyncapi", help="print the AsyncAPI 3.0 document of every topic flexbridge uses")
    p.add_argument("--json", action="store_true", help="JSON instead of YAML")
    p.set_defaults(run=_print)


def _print(args: argparse.Namespace) -> int:
    from core.config import load_settings

    sys.stdout.write(render(document(load_settings().topics), as_json=args.json))
    return 0
