"""The batch consumer leaves out a record whose event (its idempotency key) a file of the partition
not in the ledger yet already holds: the publisher sent it twice close together. A file never holds
an event twice, even on a forced replay; a file still uploading counts as the ledger would once it
is renamed. The offset of a record left out is committed all the same. No Kafka: records are handed
over as a fetch would, and an uploader that holds each file until released stands in for SFTP."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
from aiokafka import ConsumerRecord

from consumers.sftp.files import BatchBuilder
from core.merchants import Merchant
from schemas.replay import FORCE_HEADER
from streams.local.traffic import make_event
from streams.runtime.batch.consumer import BatchConsumer
from tests.unit.consumers.sftp.test_merchant_files import ACME_MID
from tests.unit.streams.runtime.test_batch_buffers import TP, Committing, consumer_over


class HeldUploader:
    """Holds each file (uploading, its events not in the ledger) until :attr:`go` is set."""

    def __init__(self) -> None:
        self.files: list[BatchBuilder] = []
        self.go = asyncio.Event()

    async def upload(
        self, builder: BatchBuilder, merchant: Merchant, before_rename: Callable[[], Awaitable[None]] | None
    ) -> None:
        await self.go.wait()
        if before_rename is not None:
            await before_rename()
        self.files.append(builder)

    def stats(self) -> dict[str, Any]:
        return {}


def consumer(max_records: int) -> tuple[BatchConsumer, HeldUploader]:
    uploader = HeldUploader()
    batch = consumer_over(uploader, max_records=max_records)
    batch._consumer = cast(Any, Committing())  # as started: it takes commits
    return batch, uploader


def event(order_id: str) -> dict[str, Any]:
    made = make_event("mit-rebill", order_id, random.Random(order_id))
    assert isinstance(made, dict)
    return {**made, "mid": ACME_MID}


def at(offset: int, value: dict[str, Any], *, force: bool = False) -> ConsumerRecord[bytes, bytes]:
    raw = orjson.dumps(value)
    headers = [(FORCE_HEADER, b"1")] if force else []
    return ConsumerRecord(TP.topic, TP.partition, offset, 0, 0, None, raw, None, 0, len(raw), headers)


async def take(batch: BatchConsumer, *records: ConsumerRecord[bytes, bytes]) -> None:
    for record in records:
        await batch._take(batch._parts[TP], record)


async def uploaded(batch: BatchConsumer, uploader: HeldUploader) -> None:
    """Let every held file finish uploading (and its partition commit)."""
    uploader.go.set()
    await asyncio.gather(*batch._parts[TP].uploading.values())


def orders(builder: BatchBuilder) -> list[str]:
    return [r.order_id for r in builder.sent]


async def test_an_event_sent_twice_goes_once_in_its_file_and_its_offset_is_committed() -> None:
    batch, uploader = consumer(max_records=3)
    a, b, c = event("A"), event("B"), event("C")
    await take(batch, at(0, a), at(1, a), at(2, b), at(3, a), at(4, c))
    await uploaded(batch, uploader)
    [file] = uploader.files
    assert orders(file) == ["A", "B", "C"] and file.event_ids == [a["eventId"], b["eventId"], c["eventId"]]
    assert (file.first_offset, file.last_offset, batch.stats()["skipped_duplicate"]) == (0, 4, 2)
    assert cast(Committing, batch._consumer).offsets == {TP: 5}  # past the records left out


async def test_an_event_of_a_file_still_uploading_goes_in_no_next_file_unless_forced() -> None:
    batch, uploader = consumer(max_records=2)
    a, b, c = event("A"), event("B"), event("C")
    await take(batch, at(0, a), at(1, b))  # the first file closes: uploading, not in the ledger yet
    await take(batch, at(2, a), at(3, b, force=True), at(4, b, force=True), at(5, c))
    await uploaded(batch, uploader)
    first, second = uploader.files
    assert (orders(first), orders(second)) == (["A", "B"], ["B", "C"])  # forced: again, but once a file
    assert batch.duplicates == 2 and batch.finished == 0
    assert cast(Committing, batch._consumer).offsets == {TP: 6}
