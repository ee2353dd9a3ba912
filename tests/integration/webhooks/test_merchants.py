"""Webhooks per merchant on the real broker, over HTTP on the public listener's routes:
``/webhooks/flex/{name}`` verifies with that merchant's keys (its previous one too, during a
rotation), refuses another merchant's signature (401) and an unknown name (404), and deduplicates
within each merchant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer

from consumers.webhooks.keys import WebhookKeys
from consumers.webhooks.signature import http_date, new_nonce, sign
from core.settings import Settings
from streams.kafka.topics import all_topics, ensure_topics
from streams.local.broker import EmbeddedBroker
from streams.ops.asyncapi import document
from streams.runtime.awaiting import AwaitingFollower
from streams.runtime.deps import Deps
from streams.runtime.metrics import Metrics
from streams.runtime.services import BridgeRuntime
from streams.runtime.webhook_listener import public_app
from streams.runtime.webhooks import DEDUPE_HEADER, MERCHANT_HEADER, WebhookAnswer, WebhookReceiver
from tests.support import read_all, unique, wait_for
from tests.webhook_support import payload, subscriber_key

pytestmark = pytest.mark.integration

ACME, ACME_OLD, BOLT = subscriber_key("acme-now"), subscriber_key("acme-old"), subscriber_key("bolt-now")
MERCHANTS = f"""
[[merchants]]
name = "acme"
mid = "0a9c3a4e-1111-4c7a-9e10-2d4b6f8a0c31"
app_key = "acme-key"
app_secret = "acme-secret"
subscriber_key = "{ACME}"
previous_subscriber_key = "{ACME_OLD}"
routing = {{ mit = "api" }}

[[merchants]]
name = "bolt"
mid = "1b8d2b5f-2222-4c7a-9e10-2d4b6f8a0c32"
app_key = "bolt-key"
app_secret = "bolt-secret"
subscriber_key = "{BOLT}"
routing = {{ mit = "api" }}
"""


class Receiving:
    """The runtime's webhook entry point and metrics, around a started receiver."""

    def __init__(self, receiver: WebhookReceiver, metrics: Metrics) -> None:
        self.receiver = receiver
        self.metrics = metrics

    async def receive_webhook(
        self, method: str, host: str, headers: Mapping[str, str], body: bytes, merchant: str | None = None
    ) -> WebhookAnswer:
        return await self.receiver.receive(method, host, headers, body, merchant)


@pytest.fixture
async def served(
    broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[tuple[Settings, TestClient[Any, Any]]]:
    async with serving(broker, tmp_path, MERCHANTS) as running:
        yield running


@asynccontextmanager
async def serving(
    broker: EmbeddedBroker, tmp_path: Path, merchants: str
) -> AsyncIterator[tuple[Settings, TestClient[Any, Any]]]:
    """A webhook receiver of ``merchants`` (the file's text) on the public listener's routes."""
    (tmp_path / "merchants.toml").write_text(merchants)
    tag = unique("wm")
    names = ("approved", "declined", "commands", "status", "webhooks", "dlq", "ledger", "batches")
    settings = Settings.model_validate(
        {
            "merchants_file": tmp_path / "merchants.toml",
            "kafka": {"bootstrap_servers": broker.bootstrap, "group_id": tag, "enable_idempotence": False},
            "topics": {n: f"{tag}.{n}" for n in names},
        }
    )
    await ensure_topics(settings.kafka, all_topics(settings.topics))
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    deps = Deps.build(settings, producer, Metrics())
    follower = AwaitingFollower(settings.kafka, settings.topics.status, producer)
    keys = WebhookKeys.build(settings.webhook, deps.merchants)
    receiver = WebhookReceiver(deps, settings.webhook, keys, follower)
    follower.start()
    await receiver.start()
    client = TestClient(TestServer(public_app(cast(BridgeRuntime, Receiving(receiver, deps.metrics)))))
    await client.start_server()
    try:
        yield settings, client
    finally:
        await client.close()
        await receiver.stop()
        await follower.stop()
        await producer.stop()


async def post(client: TestClient[Any, Any], path: str, body: bytes, key: str) -> tuple[int, str]:
    headers = sign(body, key_b64=key, host=f"127.0.0.1:{client.port}", date=http_date(), nonce=new_nonce())
    async with client.post(path, data=body, headers=headers) as answer:
        return answer.status, (await answer.json())["status"]


async def test_each_merchants_webhooks_verify_with_its_own_keys_and_dedupe_on_their_own(
    served: tuple[Settings, TestClient[Any, Any]],
) -> None:
    settings, client = served
    order = unique("ORD-M")
    assert await post(client, "/webhooks/flex/acme", payload(order), ACME) == (200, "accepted")
    # the same order id at another merchant is that merchant's own webhook, not a duplicate
    assert await post(client, "/webhooks/flex/bolt", payload(order), BOLT) == (200, "accepted")
    again = payload(order, resent=True)
    assert await post(client, "/webhooks/flex/acme", again, ACME_OLD) == (200, "duplicate")  # rotation
    assert await post(client, "/webhooks/flex/acme", payload(unique("O")), BOLT) == (401, "rejected")
    assert await post(client, "/webhooks/flex/bolt", payload(unique("O")), ACME) == (401, "rejected")
    assert await post(client, "/webhooks/flex/nobody", payload(unique("O")), ACME) == (
        404,
        "unknown-merchant",
    )
    assert await post(client, "/webhooks/flex", payload(unique("O")), ACME) == (404, "unknown-merchant")
    rotated = unique("ORD-R")
    assert await post(client, "/webhooks/flex/acme", payload(rotated), ACME_OLD) == (200, "accepted")
    records = await read_all(settings.kafka.bootstrap_servers, settings.topics.webhooks)
    mine = [dict(r.headers) for r in records if r.key in (order.encode(), rotated.encode())]
    assert sorted((h[MERCHANT_HEADER], h[DEDUPE_HEADER]) for h in mine) == sorted(
        [
            (b"acme", f"acme/order.completed:fx-{order}".encode()),
            (b"bolt", f"bolt/order.completed:fx-{order}".encode()),
            (b"acme", f"acme/order.completed:fx-{rotated}".encode()),
        ]
    )


async def test_the_records_are_shaped_as_the_asyncapi_examples(
    served: tuple[Settings, TestClient[Any, Any]],
) -> None:
    """What the receiver really publishes on a merchant's path has the documented headers and the
    fields of the AsyncAPI examples (docs/asyncapi.yaml), nothing more, nothing less."""
    settings, client = served
    order = unique("ORD-doc")
    assert await post(client, "/webhooks/flex/acme", payload(order), ACME) == (200, "accepted")
    messages = document(settings.topics)["components"]["messages"]
    status_doc, hook_doc = (messages[m]["examples"][0] for m in ("orderStatus", "flexWebhook"))
    bootstrap = settings.kafka.bootstrap_servers
    [hook] = [r for r in await read_all(bootstrap, settings.topics.webhooks) if r.key == order.encode()]
    [status] = [r for r in await read_all(bootstrap, settings.topics.status) if r.key == order.encode()]
    for record, example in ((hook, hook_doc), (status, status_doc)):
        headers = {k: v.decode() for k, v in record.headers}
        assert set(headers) == set(example["headers"])
        assert headers[MERCHANT_HEADER] == example["headers"][MERCHANT_HEADER] == "acme"
        assert headers[DEDUPE_HEADER] == f"acme/order.completed:fx-{order}"
    value = orjson.loads(status.value)
    assert set(value) == set(status_doc["payload"])
    assert set(value["detail"]) == set(status_doc["payload"]["detail"])  # webhookEvent, … and mid
    assert value["eventId"] == f"order.completed:fx-{order}"  # the dedupe key without acme/
    assert set(orjson.loads(hook.value)) >= set(hook_doc["payload"])


async def test_a_key_rotated_in_its_file_verifies_without_a_restart(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """bolt's key comes from a file: Flex signs with a new key (401, and Flex retries), the mounted
    file follows, and the retried delivery is accepted and published as bolt's."""
    new = subscriber_key("bolt-rotated")
    key_file = tmp_path / "bolt-subscriber-key"
    key_file.write_text(BOLT + "\n")
    merchants = MERCHANTS.replace(f'subscriber_key = "{BOLT}"', f'subscriber_key_file = "{key_file}"')
    async with serving(broker, tmp_path, merchants) as (settings, client):
        order = unique("ORD-K")
        assert await post(client, "/webhooks/flex/bolt", payload(order), BOLT) == (200, "accepted")
        rotated = unique("ORD-K")
        assert await post(client, "/webhooks/flex/bolt", payload(rotated), new) == (401, "rejected")
        key_file.write_text(new + "\n")

        async def retried() -> bool:  # Flex's retries; a file is read at most once a second
            return await post(client, "/webhooks/flex/bolt", payload(rotated, resent=True), new) == (
                200,
                "accepted",
            )

        await wait_for(retried, 10, "the retried delivery to verify with the key read again", every=0.3)
        assert await post(client, "/webhooks/flex/bolt", payload(unique("O")), BOLT) == (401, "rejected")
        records = await read_all(settings.kafka.bootstrap_servers, settings.topics.webhooks)
    mine = [dict(r.headers)[MERCHANT_HEADER] for r in records if r.key == rotated.encode()]
    assert mine == [b"bolt"]
