"""The SFTP batch path: an aiokafka consumer that turns records into Flex batch files.

Managed-MIT declines (``FLEXBRIDGE_ROUTING__MIT=sftp``) become ``evaluate_`` files and, with
``FLEXBRIDGE_ROUTING__TRANSMIT=sftp``, approvals become ``transmit_`` files. The consumer has its
own group (``{group_id}-batch``) beside the real-time bridge; consumers/split.py says which of the
two takes a record. One of ours that is no valid event is dead-lettered here, before the commit.

Per partition and merchant (a file never mixes merchants, DESIGN.md §2.9), records go into an open
file that closes at ``FLEXBRIDGE_BATCH__MAX_RECORDS``, before ``…__MAX_BYTES``, or
``…__MAX_AGE_SECONDS`` after it opened (checked even when no record arrives). Closed files upload
in the background (upload.py), then the offset is committed: a partition's commit never passes the
first record of a file not uploaded yet, whichever its merchant; a file's range is recorded in the
durable registry's topic before its rename, until the commit passes it, and the next owner skips its
records, their events into the ledger first (partition.py): no file reaches Flex twice. An event the
ledger holds (in a file before: a replay), or a file of the partition not in the ledger yet, is left
out (its offset committed all the same) unless the replay is forced; a file never holds an event
twice. A record that fails to go into a file (a bug) is dead-lettered too. On revocation (and
stop), open files are dropped — the next owner rebuilds them from the committed offset under the same
names — and uploads in flight get ``drain_timeout`` to finish.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from functools import partial
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from consumers.intake import Refused
from consumers.retry import OUTAGE, capped, retry
from consumers.sftp.files import BatchBuilder
from consumers.sftp.intake import batch_item
from consumers.sftp.registry import BatchRegistry
from core.merchants import SINGLE_MERCHANT_NAME
from core.settings import BatchSettings, PipelineSettings
from schemas.batch import BatchKind, FileName, parse_file_name, safe_topic
from schemas.replay import forced
from streams.kafka.clients import Rebalance, make_consumer
from streams.kafka.errors import kafka_op
from streams.runtime.batch.assign import Preparation, Prepare
from streams.runtime.batch.partition import BatchPartition, commit, drain_uploads, held_stats
from streams.runtime.batch.upload import Uploader
from streams.runtime.batch.uploaded import Uploaded, UploadedJournal
from streams.runtime.dead_letters import dead_letter, internal_error
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger
from streams.runtime.metrics import NO_MERCHANT
from streams.runtime.offsets import learn_committed
from streams.runtime.supervise import supervise, watch
from streams.runtime.undecodable import GuardedFetch

__all__ = ["BatchConsumer"]

log = logging.getLogger(__name__)

_YIELD_EVERY = 50  # records handled between chances for the event loop to run other tasks
Record: TypeAlias = ConsumerRecord[bytes, bytes]


class BatchConsumer:
    """Reads ``topics`` in its own group; the batch path (path.py) gives it uploader, registry, ledger."""

    def __init__(
        self,
        deps: Deps,
        limits: BatchSettings,
        pipeline: PipelineSettings,
        *,
        topics: list[str],
        uploader: Uploader,
        registry: BatchRegistry,
        ledger: Ledger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kafka, self._approved, self._dlq = deps.kafka, deps.topics.approved, deps.topics.dlq
        self._producer, self._metrics = deps.producer, deps.metrics
        if deps.merchants is None:
            raise ValueError("the batch path needs the merchants (Flex credentials or a merchants file)")
        self._merchants, self._limits, self._pipeline, self._topics = deps.merchants, limits, pipeline, topics
        self.registry, self.uploader, self._ledger, self._clock = registry, uploader, ledger, clock
        self._parts: dict[TopicPartition, BatchPartition] = {}
        self._slots = asyncio.Semaphore(limits.max_pending_files)
        self._consumer: AIOKafkaConsumer | None = None
        self._background: set[asyncio.Task[None]] = set()  # the fetch loop, committed offset lookups
        self.stopping = False
        self.fetch: GuardedFetch | None = None  # an undecodable batch holds its partition only
        self.joined = asyncio.Event()
        self._generation = 0  # +1 at each revocation: records fetched before it are stale
        self.seen, self.finished = 0, 0  # records read; of them, skipped as in a file before (ledger)
        self.duplicates = 0  # of them, skipped as in a file not in the ledger yet (sent twice)
        # time spent turning fetched records into file records; of it, waiting for an upload slot
        self.build_seconds, self.wait_seconds = 0.0, 0.0
        self.uploaded: UploadedJournal | None = None  # files uploaded past a commit (uploaded.py)
        # Run on every assignment, in the background, before the partitions count as held (assign.py).
        self.before_assign: Prepare | None = None
        self.preparing = Preparation(self.assigned, capped(limits.retry_max_seconds))

    async def start(self) -> None:
        k = self._kafka
        self._consumer = make_consumer(
            k, group_id=f"{k.group_id}-batch", max_poll_records=self._pipeline.fetch_max_records
        )
        self.fetch = GuardedFetch(self._consumer, "batch", self._metrics.undecodable_batch)
        await self._consumer.start()  # then subscribed, not waiting for the group (as the pipeline)
        self.preparing.consumer = self._consumer
        self._consumer.subscribe(self._topics, listener=Rebalance(self.release, self._on_assigned))
        self._background.add(supervise("batch-fetch", self._run))

    async def stop(self) -> None:
        """Stop fetching; uploads in flight get the drain timeout; commit; leave the group."""
        self.stopping = True
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.preparing.stop()
        if self._consumer is not None:
            await self.release(list(self._parts))
            await self._consumer.stop()

    def owns(self, name: FileName) -> bool:
        """True if this consumer holds the partition a batch file was written from."""
        return any(
            tp.partition == name.partition and safe_topic(tp.topic) == name.topic for tp in self._parts
        )

    async def _on_assigned(self, assigned: Collection[TopicPartition]) -> None:
        if self.stopping:  # a join that aiokafka's stop() let finish: nothing is read any more
            log.info("assigned %d partitions while stopping: left to the next owner", len(assigned))
            return
        self.preparing.begin(assigned, self.before_assign)  # never raises: a failure is retried

    def assigned(self, assigned: Collection[TopicPartition]) -> None:
        if self.fetch is not None:
            self.fetch.assigned(assigned)
        for tp in assigned:
            kind: BatchKind = "transmit" if tp.topic == self._approved else "evaluate"
            if tp not in self._parts:
                uploaded = self.uploaded.uploaded_of(tp) if self.uploaded is not None else Uploaded()
                self._parts[tp] = BatchPartition(tp, kind, uploaded=uploaded)
        if self._consumer is not None:  # the lag gauge counts from the committed offset from now on
            learn = watch(asyncio.create_task(learn_committed(self._consumer, self._parts, list(assigned))))
            self._background.add(learn)
            learn.add_done_callback(self._background.discard)
        self.joined.set()

    async def release(self, revoked: Collection[TopicPartition]) -> None:
        self._generation += 1
        await self.preparing.revoke(revoked)
        parts = [p for tp in revoked if (p := self._parts.pop(tp, None)) is not None]
        for part in parts:
            # Its open file is never uploaded (the commit stays before its first record): the next
            # owner reads those records again and writes the same file name.
            part.revoked = True
        await drain_uploads(parts, self._limits.drain_timeout_seconds)
        await self._commit(parts)
        gone = {(safe_topic(p.tp.topic), p.tp.partition) for p in parts}
        self.registry.forget(
            lambda n: (f := parse_file_name(n)) is not None and (f.topic, f.partition) in gone
        )

    async def _run(self) -> None:
        assert self._consumer is not None and self.fetch is not None  # start() sets them  # noqa: S101
        last_commit = self._clock()
        while True:
            try:
                batches = await self.fetch.getmany(timeout_ms=100, max_records=5000)
            except KafkaError as exc:
                log.warning("batch fetch failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            started, generation = time.monotonic(), self._generation
            await self._take_all(batches, generation)
            await self._close_aged()
            self.build_seconds += time.monotonic() - started
            if self._clock() - last_commit >= self._pipeline.commit_interval_seconds:
                last_commit = self._clock()
                await self._commit(list(self._parts.values()), taken=generation == self._generation)

    async def _take_all(self, batches: dict[TopicPartition, list[Record]], generation: int) -> None:
        """Add one fetch's records to their files. A rebalance meanwhile (``generation`` moved on)
        makes the rest stale: aiokafka restarts every partition from its committed offset."""
        assert self._consumer is not None and self.fetch is not None  # start() sets them  # noqa: S101
        for tp, records in batches.items():
            part = self._parts.get(tp)
            if part is None:
                if records and generation == self._generation and tp in self._consumer.assignment():
                    # fetched while its assignment is still being prepared (before_assign): read again
                    self.fetch.seek(tp, records[0].offset)
                continue
            for i, record in enumerate(records):
                if generation != self._generation:
                    return
                try:
                    await self._take(part, record)
                except Exception as exc:  # a bug: the bridge left the record to this path  # noqa: BLE001
                    error = internal_error(record, exc, "putting the record in a batch file")
                    await self._refuse(record, Refused("internal-error", error))
                if i % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # let uploads and acknowledgements progress meanwhile

    async def _take(self, part: BatchPartition, record: Record) -> None:
        self.seen += 1
        part.position = record.offset + 1
        expiry, merchants = self._pipeline.mit_expiry_days, self._merchants
        item = batch_item(part.kind, record.value, merchants, expiry, record.timestamp)
        if item is None:
            return  # the bridge's
        if isinstance(item, Refused):  # ours, and no valid event: dead-lettered before the commit passes it
            return await self._refuse(record, item)
        if part.skip_uploaded(item.merchant.name, record.offset, item.event_id):
            self._metrics.batch_already_filed(item.merchant.name)  # a previous owner's file: ledger
            return
        again = not forced(record.headers)
        if again and self._ledger.has(part.kind, item.event_id):
            self.finished += 1  # in a file before (a replay): not sent again unless forced
            self._metrics.batch_already_filed(item.merchant.name)
            return
        name, limits = item.merchant.name, self._limits
        raw: bytes | None = None
        builder = part.open.get(name)
        if part.holds(name, item.event_id, others=again):  # its idempotency key: in a file already
            self.duplicates += 1
            return
        if builder is not None and (raw := builder.fits(item.body, limits.max_bytes)) is None:
            await self._close(part, name)
        if part.revoked:
            return
        builder = part.open.get(name)
        if builder is None:
            builder = part.open[name] = part.new_file(item, record.offset, self._merchants, self._clock())
            raw = builder.fits(item.body, limits.max_bytes)
        assert raw is not None  # a first record always fits  # noqa: S101
        builder.add(record.offset, raw, item.body, item.event_id)
        if len(builder) >= limits.max_records:
            await self._close(part, name)

    async def _refuse(self, record: Record, refused: Refused) -> None:
        """Dead-letter a record of this path that goes in no file, waiting out a Kafka outage."""
        merchant = NO_MERCHANT if refused.merchant is None else refused.merchant.name
        args = (self._producer, self._dlq, record, refused.reason, refused.message, self._metrics)
        send = partial(dead_letter, *args, merchant=merchant)
        await retry(kafka_op(send), OUTAGE, what="dead letter", log=log)

    async def _close_aged(self) -> None:
        limit = self._clock() - self._limits.max_age_seconds
        for part in list(self._parts.values()):
            for name in [n for n, b in part.open.items() if b.opened_at <= limit]:
                await self._close(part, name)

    async def _close(self, part: BatchPartition, name: str) -> None:
        """Hand the merchant ``name``'s open file of ``part`` to an upload task."""
        builder = part.open.get(name)
        if builder is None or not len(builder):
            return
        # Back-pressure: at most max_pending_files closed and not uploaded. The file stays open
        # (holding the commit back) until it is handed to its upload task.
        started = time.monotonic()
        await self._slots.acquire()
        self.wait_seconds += time.monotonic() - started
        if part.revoked or part.open.get(name) is not builder:  # lost the partition meanwhile
            self._slots.release()
            return
        del part.open[name]
        task = watch(asyncio.create_task(self._upload(part, builder), name=f"upload-{builder.name}"))
        part.uploading[builder.first_offset] = task
        part.sending[builder.first_offset] = builder
        task.add_done_callback(lambda _: self._slots.release())

    async def _upload(self, part: BatchPartition, builder: BatchBuilder) -> None:
        merchant = self._merchants.by_name(builder.merchant or SINGLE_MERCHANT_NAME)
        assert merchant is not None  # the builder was opened for it  # noqa: S101
        record = partial(part.record_upload, merchant.name, builder, self.uploaded)
        await self.uploader.upload(builder, merchant, record)  # its range recorded before the rename
        part.uploading.pop(builder.first_offset, None)
        part.sending.pop(builder.first_offset, None)  # its events are in the ledger now
        if not part.revoked:
            await self._commit([part])

    async def _commit(self, parts: list[BatchPartition], *, taken: bool = False) -> None:
        if self._consumer is not None:
            await commit(self._consumer, parts, self._ledger, taken=taken)

    def stats(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "skipped_finished": self.finished,
            "skipped_duplicate": self.duplicates,
            **held_stats(self._parts, self.preparing.waiting, self._clock(), self._metrics, self._consumer),
            "awaiting_results": self.registry.outstanding,
            "build_seconds": round(self.build_seconds - self.wait_seconds, 3),
            "backpressure_seconds": round(self.wait_seconds, 3),
            **self.uploader.stats(),
        }
