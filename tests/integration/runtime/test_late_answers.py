"""Flex's answer to an /evaluate that comes after the order's later news (its call was retried
through lost answers until then) is published after that news marked ``detail.late``: the worker's
follower reads the news back from the embedded broker, the bridge (streams/runtime/bridge.py) marks
the answer, the order machine records it without moving or flagging the order. An answer about a
Flex order the order has no later news of is published unmarked."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from consumers.order_machine import apply_status
from core.settings import Settings
from schemas.flex import EvaluateResponse
from schemas.status import OrderStatus, status_of
from streams.kafka.clients import make_producer
from streams.kafka.topics import all_topics, ensure_topics
from streams.local.broker import EmbeddedBroker
from streams.local.traffic import make_event
from streams.runtime.awaiting import AwaitingFollower
from streams.runtime.bridge import Bridge
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger
from streams.runtime.metrics import Metrics
from streams.runtime.status import StatusPublisher
from tests.support import read_all, unique, values, wait_for

pytestmark = pytest.mark.integration


class HeldFlex:
    """A Flex whose /evaluate answers only once the test lets it (the answer lost until then)."""

    def __init__(self, session: str, status: str) -> None:
        self.answer = EvaluateResponse.model_validate({"orderSessionKey": session, "status": status})
        self.called, self.release = asyncio.Event(), asyncio.Event()

    async def evaluate(self, body: dict[str, Any]) -> EvaluateResponse:
        self.called.set()
        await self.release.wait()
        return self.answer

    async def transmit(self, body: dict[str, Any]) -> Any:
        raise AssertionError("no approval in this test")


@dataclass
class Worker:
    settings: Settings
    producer: AIOKafkaProducer
    follower: AwaitingFollower

    def bridge(self, flex: HeldFlex) -> Bridge:
        deps = Deps.build(self.settings, self.producer, Metrics())
        ledger = Ledger(self.settings.kafka, self.settings.topics.ledger, self.producer)
        return Bridge(deps, flex, ledger, latest=self.follower.latest)  # type: ignore[arg-type]

    async def read(self, topic: str) -> list[dict[str, Any]]:
        return values(await read_all(self.settings.kafka.bootstrap_servers, topic))


@pytest.fixture
async def worker(broker: EmbeddedBroker) -> AsyncIterator[Worker]:
    """The parts of a worker the answer goes through, on topics of their own."""
    tag = unique("late")
    names = ("approved", "declined", "commands", "status", "webhooks", "dlq", "ledger", "batches")
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": broker.bootstrap, "group_id": tag, "enable_idempotence": False},
            "topics": {n: f"{tag}.{n}" for n in names},
        }
    )
    await ensure_topics(settings.kafka, all_topics(settings.topics))
    producer = make_producer(settings.kafka)
    await producer.start()
    follower = AwaitingFollower(settings.kafka, settings.topics.status, producer)
    follower.start()
    try:
        await asyncio.wait_for(follower.loaded.wait(), 30)
        yield Worker(settings, producer, follower)
    finally:
        await follower.stop()
        await producer.stop()


def _decline(topic: str, order: str) -> tuple[ConsumerRecord[bytes, bytes], str]:
    event = make_event("cit-approved", order, random.Random(order))
    value = orjson.dumps(event)
    record = ConsumerRecord(topic, 0, 0, 0, 0, order.encode(), value, None, len(value), 0, [])
    return record, str(event["eventId"])


async def test_a_late_answer_is_published_after_its_orders_later_news_marked_late(
    worker: Worker,
) -> None:
    topics = worker.settings.topics
    order = unique("ORD-late")
    flex = HeldFlex("S1", "CAPTUREREQUIRED")
    record, event_id = _decline(topics.declined, order)
    handled = asyncio.create_task(worker.bridge(flex).handle(record))
    await asyncio.wait_for(flex.called.wait(), 10)
    # Flex made the order; while its answer was lost, Flex's webhook and a cancel moved it on
    news = StatusPublisher(worker.producer, topics.status)
    await news.publish(status_of(order, "CAPTUREREQUIRED", "webhook", "w1", session_key="S1"))
    await news.publish(status_of(order, "CANCELLED", "command", "c1", session_key="S1"))

    answer = status_of(order, "CAPTUREREQUIRED", "evaluate", event_id, session_key="S1")

    async def followed() -> bool:  # the follower has read the news back, the cancel included
        return worker.follower.latest.superseded(answer)

    await wait_for(followed, 30, "the follower to read the order's news")
    flex.release.set()
    await asyncio.wait_for(handled, 10)

    statuses = await worker.read(topics.status)
    assert [(s["status"], s["source"], s["detail"].get("late")) for s in statuses] == [
        ("CAPTUREREQUIRED", "webhook", None),
        ("CANCELLED", "command", None),
        ("CAPTUREREQUIRED", "evaluate", True),  # the event's outcome, after the news: marked
    ]
    assert statuses[-1]["eventId"] == event_id
    state = None
    for status in statuses:
        state, verdict = apply_status(state, OrderStatus.model_validate(status))
    assert verdict == "late" and state.status == "CANCELLED" and not state.flagged
    ledger = await worker.read(topics.ledger)
    assert [(e["eventId"], e["status"]) for e in ledger] == [(event_id, "CAPTUREREQUIRED")]


async def test_an_answer_about_a_flex_order_with_no_later_news_is_published(worker: Worker) -> None:
    """The order's last attempt ended (DECLINED, Flex order S1); the answer is about a new Flex
    order, S2: a new attempt, published."""
    topics = worker.settings.topics
    order = unique("ORD-new")
    news = StatusPublisher(worker.producer, topics.status)
    await news.publish(status_of(order, "DECLINED", "evaluate", "e0", session_key="S1"))

    async def followed() -> bool:
        return len(worker.follower.latest) == 1

    await wait_for(followed, 30, "the follower to read the order's last attempt")
    flex = HeldFlex("S2", "APPROVED")
    flex.release.set()
    record, event_id = _decline(topics.declined, order)
    await asyncio.wait_for(worker.bridge(flex).handle(record), 10)
    statuses = await worker.read(topics.status)
    assert [(s["status"], s["orderSessionKey"]) for s in statuses] == [("DECLINED", "S1"), ("APPROVED", "S2")]
    assert statuses[-1]["eventId"] == event_id and "late" not in statuses[-1]["detail"]
