"""Unit tests of the batch consumer's buffers: one open file per partition and merchant.

The consumer runs without Kafka here: records are handed to it as a fetch would, and a recording
uploader stands in for SFTP (a pure unit test of the buffering)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from consumers.flows import Defaults
from consumers.sftp.files import BatchBuilder
from consumers.sftp.registry import BatchRegistry
from core.merchants import Merchant, Merchants
from core.settings import BatchSettings, KafkaSettings, PipelineSettings, RoutingSettings, TopicSettings
from streams.local.traffic import make_event
from streams.runtime.batch import consumer as batch_consumer
from streams.runtime.batch.consumer import BatchConsumer
from streams.runtime.batch.upload import Uploader
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger
from streams.runtime.metrics import Metrics
from tests.unit.consumers.sftp.test_merchant_files import ACME_MID, BOLT_MID, merchant

CORA_MID = "2c7e1c6a-3333-4c7a-9e10-2d4b6f8a0c33"
MERCHANTS = Merchants(
    [
        merchant("acme", ACME_MID, mit="sftp"),
        merchant("bolt", BOLT_MID, mit="sftp"),
        merchant("cora", CORA_MID, mit="api"),
    ]
)
TOPICS = TopicSettings()
TP = TopicPartition(TOPICS.declined, 3)


class RecordingUploader:
    def __init__(self) -> None:
        self.files: list[tuple[BatchBuilder, Merchant]] = []

    async def upload(
        self,
        builder: BatchBuilder,
        merchant: Merchant,
        before_rename: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if before_rename is not None:
            await before_rename()
        self.files.append((builder, merchant))

    def stats(self) -> dict[str, Any]:
        return {"files_uploaded": len(self.files)}


class DeadLetters:
    """Stands in for the producer: the records sent to it (the dead letters)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, bytes]]] = []

    async def send_and_wait(self, topic: str, value: bytes | None, key: Any = None, **kw: Any) -> None:
        self.sent.append((topic, value, dict(kw.get("headers") or ())))


class Committing:
    """Stands in for the started aiokafka consumer: it takes commits."""

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.offsets = offsets

    def highwater(self, tp: TopicPartition) -> int | None:
        return None  # no fetch answered yet: no lag known


def consumer_over(uploader: object, **limits: Any) -> BatchConsumer:
    """A batch consumer over the unit tests' merchants, assigned ``TP``, its files handed to
    ``uploader`` (a stand-in for the SFTP one)."""
    deps = Deps(
        producer=cast(AIOKafkaProducer, DeadLetters()),
        metrics=Metrics(),
        kafka=KafkaSettings(),
        topics=TOPICS,
        routing=RoutingSettings(),
        defaults=Defaults(),
        merchants=MERCHANTS,
    )
    consumer = BatchConsumer(
        deps,
        BatchSettings(**limits),
        PipelineSettings(),
        topics=[TOPICS.declined],
        uploader=cast(Uploader, uploader),
        registry=BatchRegistry(),
        ledger=Ledger(KafkaSettings(), TOPICS.ledger, cast(AIOKafkaProducer, None)),
        clock=lambda: 0.0,
    )
    consumer.assigned([TP])
    return consumer


def _consumer(**limits: Any) -> tuple[BatchConsumer, RecordingUploader]:
    uploader = RecordingUploader()
    return consumer_over(uploader, **limits), uploader


def _record(offset: int, mid: str) -> ConsumerRecord[bytes, bytes]:
    event = make_event("mit-rebill", f"O-{offset}", random.Random(offset))
    assert isinstance(event, dict)
    value = orjson.dumps({**event, "mid": mid})
    return ConsumerRecord(TP.topic, TP.partition, offset, 0, 0, None, value, None, 0, len(value), [])


async def _feed(consumer: BatchConsumer, mids: list[str]) -> None:
    part = consumer._parts[TP]
    for offset, mid in enumerate(mids):
        await consumer._take(part, _record(offset, mid))  # as a fetch hands them over
    await asyncio.sleep(0)  # the upload tasks run
    await asyncio.sleep(0)


async def test_interleaved_merchants_on_one_partition_fill_files_of_their_own() -> None:
    consumer, uploader = _consumer(max_records=2)
    await _feed(consumer, [ACME_MID, BOLT_MID, ACME_MID, CORA_MID, BOLT_MID, ACME_MID])
    files = {b.name: (m.name, b.mid, b.first_offset, b.last_offset, len(b)) for b, m in uploader.files}
    assert files == {
        "evaluate_payments.declined_p0003_o000000000000_acme.json": ("acme", ACME_MID, 0, 2, 2),
        "evaluate_payments.declined_p0003_o000000000001_bolt.json": ("bolt", BOLT_MID, 1, 4, 2),
    }
    # cora sends MIT by the API: none of its records is taken; acme's third waits in a new file
    assert consumer.stats()["open_files"] == 1
    assert [r.order_id for r in uploader.files[0][0].sent] == ["O-0", "O-2"]


async def test_the_commit_never_passes_the_first_record_of_any_merchants_open_file() -> None:
    consumer, uploader = _consumer(max_records=2)
    await _feed(consumer, [BOLT_MID, ACME_MID, ACME_MID, ACME_MID])
    assert [b.name for b, _ in uploader.files] == ["evaluate_payments.declined_p0003_o000000000001_acme.json"]
    part = consumer._parts[TP]
    assert part.committable() == 0  # bolt's open file starts at offset 0
    assert sorted(part.open) == ["acme", "bolt"]


async def test_a_record_that_fails_to_go_into_a_file_is_dead_lettered_and_the_fetch_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, uploader = _consumer(max_records=2)
    real = batch_consumer.batch_item

    def broken_on_offset_1(kind: Any, raw: bytes | None, *args: Any) -> Any:
        if raw is not None and b'"O-1"' in raw:
            raise RuntimeError("a bug")
        return real(kind, raw, *args)

    monkeypatch.setattr(batch_consumer, "batch_item", broken_on_offset_1)
    consumer._consumer, consumer.fetch = cast(Any, Committing()), cast(Any, object())  # as started
    records = [_record(n, ACME_MID) for n in range(3)]
    await consumer._take_all({TP: records}, generation=0)
    await asyncio.sleep(0)  # the upload task runs
    [(topic, value, headers)] = cast(DeadLetters, consumer._producer).sent
    assert (topic, value) == (TOPICS.dlq, records[1].value)
    assert (headers["dlq-reason"], headers["dlq-error"]) == (
        b"internal-error",
        b"RuntimeError while putting the record in a batch file",
    )
    assert [[r.order_id for r in b.sent] for b, _ in uploader.files] == [["O-0", "O-2"]]
