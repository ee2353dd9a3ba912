"""streams/runtime/ledger.py on the embedded broker: what one worker records another reads back, per
source partition, and a worker keeps only its own partitions' keys (forgetting the others a chunk
at a time); a tombstone forgets its key; the keys are all a loaded ledger holds; and a ledger whose
topic deletes old records forgets the keys past its retention, never sooner."""

from __future__ import annotations

import asyncio
import contextlib
import tracemalloc
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from core.settings import KafkaSettings
from streams.kafka.clients import make_producer
from streams.kafka.topics import ensure_topics
from streams.local.broker import EmbeddedBroker
from streams.runtime import ledger as ledger_module
from streams.runtime.ledger import Ledger
from tests.support import unique

pytestmark = pytest.mark.integration


async def _ledger_topic(
    broker: EmbeddedBroker, partitions: int, config: dict[str, str] | None = None
) -> tuple[KafkaSettings, str]:
    kafka = KafkaSettings(
        bootstrap_servers=broker.bootstrap, topic_partitions=partitions, enable_idempotence=False
    )
    topic = unique("ledger")
    await ensure_topics(kafka, [topic], config)
    return kafka, topic


@contextlib.asynccontextmanager
async def _producer(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaProducer]:
    """The worker's producer (streams/kafka/clients.py), started and stopped."""
    producer = make_producer(kafka)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def _source(*partitions: int) -> list[TopicPartition]:
    return [TopicPartition("payments.declined", p) for p in partitions]


async def test_another_worker_reads_back_what_was_recorded_for_its_partitions(broker: EmbeddedBroker) -> None:
    kafka, topic = await _ledger_topic(broker, partitions=2)
    async with _producer(kafka) as producer:
        first = Ledger(kafka, topic, producer)
        await first.record("evaluate", "E0", 0, {"flow": "evaluate", "status": "APPROVED"})
        await first.record("transmit", "E1", 1, {"flow": "transmit", "transmitId": "t-1"})
        assert first.has("evaluate", "E0") and first.has("transmit", "E1")
        assert not first.has("transmit", "E0")  # a key is the flow's and the event's

        other = Ledger(kafka, topic, producer)
        await other.load(_source(0))
        assert (other.has("evaluate", "E0"), other.has("transmit", "E1"), len(other)) == (True, False, 1)
        await other.load(_source(0, 1))  # partition 0 again from where it stopped: nothing twice
        assert (other.has("transmit", "E1"), len(other)) == (True, 2)


async def test_the_keys_of_partitions_gone_to_another_worker_are_forgotten_and_read_again_on_return(
    broker: EmbeddedBroker,
) -> None:
    kafka, topic = await _ledger_topic(broker, partitions=2)
    async with _producer(kafka) as producer:
        ledger = Ledger(kafka, topic, producer)
        await ledger.load(_source(0, 1))
        await ledger.record("evaluate", "E0", 0, {"flow": "evaluate"})
        await ledger.record("evaluate", "E1", 1, {"flow": "evaluate"})
        await ledger.record("transmit", "E3", 3, {"flow": "transmit"})  # source 3: ledger partition 1
        await ledger.load(_source(0))  # the next assignment: partition 1 went elsewhere
        assert (ledger.has("evaluate", "E0"), ledger.has("evaluate", "E1"), len(ledger)) == (True, False, 1)
        assert not ledger.has("transmit", "E3")
        await ledger.load([])  # none at all
        assert len(ledger) == 0
        await ledger.load(_source(1, 0))  # both back: each read again from its start
        found = [ledger.has(*key) for key in [("evaluate", "E0"), ("evaluate", "E1"), ("transmit", "E3")]]
        assert (found, len(ledger)) == ([True, True, True], 3)


async def test_a_batch_files_entries_are_read_back_and_each_reader_keeps_its_partitions(
    broker: EmbeddedBroker,
) -> None:
    kafka, topic = await _ledger_topic(broker, partitions=2)
    async with _producer(kafka) as producer:
        first = Ledger(kafka, topic, producer)
        await first.record_all("evaluate", ["B0", "B1"], 1, {"flow": "evaluate", "batchFile": "f.json"})
        await first.record("evaluate", "E0", 0, {"flow": "evaluate"})

        other = Ledger(kafka, topic, producer)
        await other.load(_source(0), reader="pipeline")
        await other.load(_source(1), reader="batch")  # another group: another assignment
        assert [other.has("evaluate", e) for e in ("B0", "B1", "E0")] == [True, True, True]
        await other.load([], reader="pipeline")  # the pipeline lost partition 0; the batch path holds 1
        assert [other.has("evaluate", e) for e in ("B0", "B1", "E0")] == [True, True, False]


async def test_a_lost_partitions_keys_go_a_chunk_at_a_time_while_the_event_loop_runs(
    broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka, topic = await _ledger_topic(broker, partitions=2)
    async with _producer(kafka) as producer:
        ledger = Ledger(kafka, topic, producer)
        await ledger.load(_source(0, 1))
        for n in range(6):
            await ledger.record("evaluate", f"E{n}", 1, {"flow": "evaluate"})
        await ledger.record("evaluate", "K", 0, {"flow": "evaluate"})
        monkeypatch.setattr(ledger_module, "_PURGE_CHUNK", 2)
        seen: list[int] = []

        async def count() -> None:  # what another task of the worker sees meanwhile
            while True:
                seen.append(len(ledger))
                await asyncio.sleep(0)

        counting = asyncio.create_task(count())
        try:
            await ledger.load(_source(0))  # partition 1 went elsewhere: six keys go, two at a time
        finally:
            counting.cancel()
        assert (len(ledger), ledger.has("evaluate", "K"), ledger.has("evaluate", "E5")) == (1, True, False)
        assert [n for n in (5, 3) if n in seen] == [5, 3], seen


async def test_a_tombstone_forgets_its_key_as_compaction_would(broker: EmbeddedBroker) -> None:
    kafka, topic = await _ledger_topic(broker, partitions=1)
    async with _producer(kafka) as producer:
        ledger = Ledger(kafka, topic, producer)
        await ledger.record("evaluate", "E0", 0, {"flow": "evaluate"})
        await ledger.record("evaluate", "E1", 0, {"flow": "evaluate"})
        await producer.send_and_wait(topic, None, Ledger.key("evaluate", "E0"), partition=0)

        fresh = Ledger(kafka, topic, producer)
        await fresh.load(_source(0))
        assert (fresh.has("evaluate", "E0"), fresh.has("evaluate", "E1")) == (False, True)
        await ledger.load(_source(0))  # a ledger that had recorded it reads the tombstone too
        assert not ledger.has("evaluate", "E0")


async def test_a_ledger_loaded_for_some_keys_keeps_those_alone(broker: EmbeddedBroker) -> None:
    """A replay plan's ledger (streams/ops/outcomes.py): it reads the whole topic, keeps what it asked for."""
    kafka, topic = await _ledger_topic(broker, partitions=2)
    async with _producer(kafka) as producer:
        ledger = Ledger(kafka, topic, producer)
        await ledger.record_all("evaluate", [f"E{i}" for i in range(100)], 0, {"flow": "evaluate"})
        await ledger.record_all("transmit", [f"T{i}" for i in range(100)], 1, {"flow": "transmit"})
        only = {Ledger.key("evaluate", "E7"), Ledger.key("transmit", "T99"), Ledger.key("evaluate", "E-none")}
        plan = Ledger(kafka, topic, producer)
        await plan.load(_source(0, 1), only=only)
        assert (plan.has("evaluate", "E7"), plan.has("transmit", "T99"), len(plan)) == (True, True, 2)
        assert not plan.has("evaluate", "E8")


async def test_a_loaded_ledger_holds_its_keys_and_not_the_entries(broker: EmbeddedBroker) -> None:
    """20,000 evaluate entries read back are held in under 300 bytes each (109 when written, each
    key with its partition; 184 as a set of keys); held as their parsed JSON, they took 644."""
    count = 20_000
    kafka, topic = await _ledger_topic(broker, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False, linger_ms=20)
    await producer.start()
    try:
        for i in range(count):
            event_id = str(uuid.uuid4())
            entry = {
                "flow": "evaluate",
                "status": "APPROVED",
                "orderSessionKey": str(uuid.uuid4()),
                "eventId": event_id,
                "orderId": f"ORD-{i:08d}",
            }
            await producer.send(topic, orjson.dumps(entry), Ledger.key("evaluate", event_id), partition=0)
        await producer.flush()
        ledger = Ledger(kafka, topic, producer)
        await ledger._partition_count()  # its metadata before the measurement
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            await ledger.load(_source(0))
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    finally:
        await producer.stop()
    assert len(ledger) == count
    assert held / count < 300, f"{held / count:.0f} bytes an entry"


HOUR = 3_600_000  # ms


class _Clock:
    def __init__(self) -> None:
        self.ms = 1_800_000_000_000

    def __call__(self) -> float:
        return self.ms / 1000


async def test_keys_past_the_topics_retention_are_forgotten_never_sooner(broker: EmbeddedBroker) -> None:
    config = {"cleanup.policy": "compact,delete", "retention.ms": str(HOUR)}
    kafka, topic = await _ledger_topic(broker, partitions=1, config=config)
    clock = _Clock()
    async with _producer(kafka) as producer:
        ledger = Ledger(kafka, topic, producer, clock=clock)
        await ledger.record("evaluate", "E0", 0, {"flow": "evaluate"})
        clock.ms += HOUR - 1  # just inside the retention: kept, whatever was recorded since
        await ledger.record("evaluate", "E1", 0, {"flow": "evaluate"})
        assert ledger.has("evaluate", "E0") and len(ledger) == 2
        clock.ms += HOUR // 4 + 1  # E0 a quarter past the retention
        await ledger.record("evaluate", "E2", 0, {"flow": "evaluate"})
        assert (ledger.has("evaluate", "E0"), ledger.has("evaluate", "E1"), len(ledger)) == (False, True, 2)

        # read back: a record older than the retention (the topic has not deleted it yet) is not kept
        old, recent = Ledger.key("transmit", "T-old"), Ledger.key("transmit", "T-new")
        await producer.send_and_wait(topic, b"{}", old, partition=0, timestamp_ms=clock.ms - 2 * HOUR)
        await producer.send_and_wait(topic, b"{}", recent, partition=0, timestamp_ms=clock.ms - HOUR // 2)
        fresh = Ledger(kafka, topic, producer, clock=clock)
        await fresh.load(_source(0))
        assert (fresh.has("transmit", "T-old"), fresh.has("transmit", "T-new")) == (False, True)
        assert (fresh.has("evaluate", "E1"), fresh.has("evaluate", "E2")) == (True, True)


async def test_a_compacted_only_topic_keeps_every_key(broker: EmbeddedBroker) -> None:
    kafka, topic = await _ledger_topic(broker, partitions=1, config={"cleanup.policy": "compact"})
    clock = _Clock()
    async with _producer(kafka) as producer:
        ledger = Ledger(kafka, topic, producer, clock=clock)
        await ledger.record("evaluate", "E0", 0, {"flow": "evaluate"})
        clock.ms += 1000 * HOUR
        await ledger.record("evaluate", "E1", 0, {"flow": "evaluate"})
        assert ledger.has("evaluate", "E0") and len(ledger) == 2
