"""The AsyncAPI document: the committed copy is current, its schemas and examples are the models',
and the reference parser (@asyncapi/parser) accepts it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import MessageSizeTooLargeError

from consumers.webhooks.keys import scoped_key
from core.settings import TopicSettings
from schemas.commands import OrderCommand
from schemas.events import validate_payment_event
from schemas.status import OrderStatus
from schemas.webhooks import dedupe_key, order_status, parse_webhook
from streams.ops.asyncapi import document, render
from streams.runtime.dead_letters import dead_letter
from streams.runtime.metrics import Metrics
from streams.runtime.webhooks import DEDUPE_HEADER, MERCHANT_HEADER, publication_headers

ROOT = Path(__file__).resolve().parents[4]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
REGENERATE = "flexbridge asyncapi > docs/asyncapi.yaml  (with no FLEXBRIDGE_TOPICS__* set)"


def test_the_committed_document_is_current() -> None:
    assert COMMITTED.read_text() == render(document()), f"docs/asyncapi.yaml is stale: run {REGENERATE}"


def test_every_topic_has_a_channel_and_every_channel_operations() -> None:
    doc = document()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(TopicSettings().model_dump().values())
    used = {op["channel"]["$ref"].rpartition("/")[2] for op in doc["operations"].values()}
    assert used == set(doc["channels"])
    actions = {op["action"] for op in doc["operations"].values()}
    assert actions == {"send", "receive"}


def test_the_topic_names_follow_the_settings() -> None:
    doc = document(TopicSettings(status="acme.orders.status"))
    assert doc["channels"]["ordersStatus"]["address"] == "acme.orders.status"


def test_the_schemas_are_the_models_own() -> None:
    found = document()["components"]["schemas"]
    ref = "#/components/schemas/{model}"
    assert found["OrderStatus"] == OrderStatus.model_json_schema(mode="serialization", ref_template=ref)
    assert found["OrderCommand"] == OrderCommand.model_json_schema(ref_template=ref)


def _examples(message: dict[str, Any]) -> list[Any]:
    return [example["payload"] for example in message["examples"]]


def test_the_examples_are_valid_records() -> None:
    messages = document()["components"]["messages"]
    for payload in _examples(messages["paymentEvent"]) + _examples(messages["deadLetter"]):
        validate_payment_event(payload)
    for payload in _examples(messages["orderStatus"]):
        OrderStatus.model_validate(payload)
    for payload in _examples(messages["orderCommand"]):
        OrderCommand.model_validate(payload)
    for payload in _examples(messages["flexWebhook"]):
        parse_webhook(orjson.dumps(payload))
    assert set(messages["deadLetter"]["examples"][0]["headers"]) == set(
        messages["deadLetter"]["headers"]["required"]
    )


@pytest.mark.timeout(120)
def test_the_reference_parser_accepts_the_document() -> None:
    node = shutil.which("node")
    assert node is not None, "node is not installed (Debian: apt-get install nodejs npm)"
    script = ROOT / "tests" / "asyncapi-validate.mjs"
    done = subprocess.run([node, str(script), str(COMMITTED)], capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid AsyncAPI 3.0.0" in done.stdout


def test_the_webhook_examples_are_the_receivers_records() -> None:
    """Each path's example: the body, the status the receiver makes of it, and both records' headers."""
    messages = document()["components"]["messages"]
    for status, hook in zip(
        messages["orderStatus"]["examples"], messages["flexWebhook"]["examples"], strict=True
    ):
        named = "/webhooks/flex/acme" in status["name"]
        webhook = parse_webhook(orjson.dumps(hook["payload"]))
        made = order_status(webhook, "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31" if named else None)
        assert made is not None and status["payload"] == made.model_dump(mode="json", by_alias=True)
        assert status["payload"]["detail"]["webhookEvent"] == "order.completed"
        key = scoped_key("acme" if named else None, dedupe_key(webhook))
        headers = {k: v.decode() for k, v in publication_headers(key, "acme" if named else None)}
        assert status["headers"] == hook["headers"] == headers
        assert status["payload"]["eventId"] == dedupe_key(webhook)  # the key without the merchant's prefix
    assert messages["flexWebhook"]["examples"][0]["headers"]["flexbridge-dedupe-key"].startswith("acme/")


def test_every_header_the_receiver_sets_is_documented() -> None:
    messages = document()["components"]["messages"]
    for message in ("orderStatus", "flexWebhook"):
        headers = messages[message]["headers"]["properties"]
        assert set(headers) == {DEDUPE_HEADER, MERCHANT_HEADER}, message
        assert "acme/" in headers[DEDUPE_HEADER]["description"]


class _RefusesTheFirst:
    """A producer whose broker refuses the first record as too large: the dead letter's second try."""

    def __init__(self) -> None:
        self.headers: list[set[str]] = []

    async def send_and_wait(self, topic: str, value: Any, key: Any, headers: Any) -> None:
        self.headers.append({name for name, _ in headers})
        if len(self.headers) == 1:
            raise MessageSizeTooLargeError


async def test_every_header_a_dead_letter_may_carry_is_documented() -> None:
    """A card number (dlq-masked) of a known merchant (dlq-merchant) too large for the DLQ (dlq-omitted)."""
    value = b'{"paymentMethod":{"cardNumber":"4111111111111111"}}'
    record = ConsumerRecord("payments.declined", 0, 7, 0, 0, b"o1", value, None, 0, 0, [("trace", b"t")])
    producer = _RefusesTheFirst()
    await dead_letter(producer, "payments.dlq", record, "pan-detected", "why", Metrics(), merchant="acme")
    written = {name for name in set.union(*producer.headers) if name.startswith("dlq-")}
    headers = document()["components"]["messages"]["deadLetter"]["headers"]
    assert written == set(headers["properties"])
    assert set(headers["required"]) == written - {"dlq-merchant", "dlq-omitted", "dlq-masked"}
