"""The faust-streaming fixes in streams/runtime/faust_fixes.py: a real seek back, no records handed out
between Faust resuming the stream partitions and its seek after a rebalance, and a changelog's end
that the embedded broker's ListOffsets does not cut short."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from faust.stores.memory import Store as MemoryStore
from faust.types import TP

from core.settings import KafkaSettings, Settings
from streams.kafka.topics import ensure_topics
from streams.local.broker import EmbeddedBroker
from streams.runtime import faust_fixes, faust_recovery
from tests.support import unique, wait_for


async def _fill(bootstrap: str, topics: list[str], per_partition: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for topic in topics:
            for p in range(3):
                for n in range(per_partition):
                    await producer.send_and_wait(topic, b"%d" % n, partition=p)
    finally:
        await producer.stop()


@pytest.mark.integration
async def test_seek_to_committed_goes_back_on_partitions_committed_at_zero_or_never(
    broker: EmbeddedBroker,
) -> None:
    stream, changelog = unique("stream"), unique("changelog")
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=broker.bootstrap, topic_partitions=3))
    await ensure_topics(settings.kafka, [stream, changelog])
    await _fill(broker.bootstrap, [stream, changelog], 4)
    never, zero, two = (TopicPartition(stream, p) for p in range(3))
    logged = TopicPartition(changelog, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=unique("g"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([never, zero, two, logged])
        await consumer.commit({zero: OffsetAndMetadata(0, ""), two: OffsetAndMetadata(2, "")})

        async def read_everything() -> bool:
            await consumer.getmany(timeout_ms=200)
            return all([await consumer.position(tp) == 4 for tp in (never, zero, two, logged)])

        await wait_for(read_everything, 30, "every record read")

        # aiokafka alone leaves the partitions committed at 0 or never where the fetcher got to
        await consumer.seek_to_committed()
        assert [await consumer.position(tp) for tp in (never, zero, two)] == [4, 4, 2]

        committed = await faust_fixes.seek_to_committed(consumer, "earliest", {changelog})
        assert committed == {never: None, zero: 0, two: 2, logged: None}
        assert [await consumer.position(tp) for tp in (never, zero, two, logged)] == [0, 0, 2, 4]

        await faust_fixes.seek_to_committed(consumer, "latest")
        assert [await consumer.position(tp) for tp in (never, zero, two, logged)] == [4, 0, 2, 4]
    finally:
        await consumer.stop()


async def test_recovery_stops_the_flow_before_faust_resumes_the_stream_partitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []
    consumer = SimpleNamespace(flow_active=True)
    consumer.stop_flow = lambda: setattr(consumer, "flow_active", False)

    async def original(self: Any, generation_id: int = 0) -> None:
        seen.append(self.app.consumer.flow_active)

    monkeypatch.setattr(faust_fixes, "_original_on_recovery_completed", original)
    await faust_fixes._on_recovery_completed(SimpleNamespace(app=SimpleNamespace(consumer=consumer)), 3)
    assert seen == [False]


@pytest.mark.integration
async def test_a_changelog_ends_where_a_fetch_says_not_where_list_offsets_stops(
    broker: EmbeddedBroker,
) -> None:
    """Records produced in one batch: ListOffsets answers one past the batch's first record, so a table
    copy that read them all looked ahead of the changelog (Faust's ConsistencyError, e.g. 46 > 45)."""
    changelog = unique("changelog")
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_partitions=1)
    await ensure_topics(kafka, [changelog])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False, linger_ms=200)
    await producer.start()
    try:
        sent = [await producer.send(changelog, b"%d" % n, partition=0) for n in range(5)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    tp = TopicPartition(changelog, 0)
    listed = await _listed_end(broker.bootstrap, tp)
    assert listed < 5  # the broker's under-report this fix exists for
    thread = SimpleNamespace(consumer=SimpleNamespace(in_transaction=False))
    ends = await faust_fixes.changelog_ends(kafka, thread, [tp])  # type: ignore[arg-type]
    assert ends == {tp: 5}


async def _listed_end(bootstrap: str, tp: TopicPartition) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


def test_apply_installs_the_fixes() -> None:
    from faust.tables.recovery import Recovery
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    faust_fixes.apply(KafkaSettings())
    assert Recovery.on_recovery_completed is faust_fixes._on_recovery_completed
    assert AIOKafkaConsumerThread.seek_to_committed is faust_fixes._seek_to_committed
    assert AIOKafkaConsumerThread._highwaters.__qualname__.startswith("apply.")
    assert Recovery._wait is faust_recovery._wait


async def test_a_key_an_agent_wrote_is_forgotten_with_its_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faust's in-memory store drops, once a recovery completes, the keys of the partitions the
    worker no longer holds; it knew the partition only of the keys it recovered, never of those
    its agents wrote, so those stayed after their partition went to another worker."""
    sent: list[Any] = []
    monkeypatch.setattr(faust_fixes, "_original_on_key_set", lambda table, key, value: sent.append(key))
    monkeypatch.setattr(faust_fixes, "_original_on_key_del", lambda table, key: sent.append(("del", key)))
    store = SimpleNamespace(data={}, _key_partition={"recovered": 1})
    partitions = {"a": 0, "b": 1, "recovered": 1}
    table = SimpleNamespace(data=store, partition_for_key=partitions.get)
    for key in ("a", "b"):  # as an agent writes: Faust's on_key_set (the changelog), then the value
        faust_fixes._on_key_set(table, key, b"{}")  # type: ignore[arg-type]
        store.data[key] = b"{}"
    store.data["recovered"] = b"{}"
    assert sent == ["a", "b"]
    assert store._key_partition == {"recovered": 1, "a": 0, "b": 1}

    # Faust's own clean-up as a recovery completes: the worker holds partition 0 only now
    await MemoryStore.on_recovery_completed(store, {TP("orders-changelog", 0)}, set())  # type: ignore[arg-type]
    assert store.data == {"a": b"{}"}

    faust_fixes._on_key_del(table, "a")  # type: ignore[arg-type]
    assert sent[-1] == ("del", "a") and store._key_partition == {}
    unpartitioned = SimpleNamespace(data=store, partition_for_key=lambda key: None)  # a partitioner's
    faust_fixes._on_key_set(unpartitioned, "c", b"{}")  # type: ignore[arg-type]
    assert store._key_partition == {}
