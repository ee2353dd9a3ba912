"""One source partition of the batch consumer (consumer.py): its open files by merchant, the uploads
in flight (and their files, until their events are in the ledger), the records skipped as in a
previous owner's file, and the offset its commit may reach; and the commit of such partitions.

A record skipped because a previous owner's file holds it (its recorded range, uploaded.py) may
not be in the ledger: that owner stopped after the rename and before its ledger write (killed, or
its upload cancelled by a rebalance). The range is forgotten once the commit passes it, so the
skipped events are written to the ledger first (:func:`commit`), as the uploader does after a
rename: a later replay of them goes in no second file unless forced. Until then the commit stays
before the first of them, and a copy of one read meanwhile is left out like any event in a file
not in the ledger yet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from consumers.retry import OUTAGE, retry
from consumers.sftp.files import BatchBuilder, file_merchant
from consumers.sftp.intake import BatchItem
from core.merchants import Merchants
from schemas.batch import BatchKind
from streams.kafka.errors import kafka_op
from streams.runtime.batch.uploaded import Uploaded, UploadedJournal
from streams.runtime.ledger import Ledger
from streams.runtime.metrics import Metrics
from streams.runtime.offsets import EndTimes, lag_of, pass_markers

__all__ = ["BatchPartition", "commit", "commit_offsets", "drain_uploads", "held_stats", "record_skipped"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BatchPartition:
    tp: TopicPartition
    kind: BatchKind
    position: int | None = None
    committed: int | None = None
    open: dict[str, BatchBuilder] = field(default_factory=dict)  # by merchant name
    uploading: dict[int, asyncio.Task[None]] = field(default_factory=dict)  # by first offset
    sending: dict[int, BatchBuilder] = field(default_factory=dict)  # their files, by first offset
    revoked: bool = False
    uploaded: Uploaded = field(default_factory=Uploaded)  # files uploaded past the commit
    recorded: str = ""  # ``uploaded`` as last written (uploaded.py)
    # records skipped as in a previous owner's file, not in the ledger yet: by file name, each
    # event id → its offset, in offset order
    skipped: dict[str | None, dict[str, int]] = field(default_factory=dict)
    ends: EndTimes = field(default_factory=EndTimes)  # when the partition's end passed which offset

    def holds(self, merchant: str, event_id: str, *, others: bool) -> bool:
        """Whether ``merchant``'s open file has a record of event ``event_id``; with ``others``,
        whether any file of this partition not in the ledger yet (open, or uploading) has one."""
        mine = self.open.get(merchant)
        if mine is not None and mine.holds(event_id):
            return True
        if not others:
            return False
        files = (*self.open.values(), *self.sending.values())
        return any(b.holds(event_id) for b in files) or any(event_id in k for k in self.skipped.values())

    def skip_uploaded(self, merchant: str, offset: int, event_id: str) -> bool:
        """Whether ``merchant``'s record at ``offset`` is in a file a previous owner uploaded; if so
        its event is kept for the ledger (written before the commit passes it)."""
        span = self.uploaded.span_at(merchant, offset)
        if span is None:
            return False
        self.skipped.setdefault(span[2], {}).setdefault(event_id, offset)
        return True

    async def record_upload(
        self, merchant: str, builder: BatchBuilder, journal: UploadedJournal | None
    ) -> None:
        """Before the rename: the file's range, durable until the commit passes it (uploaded.py)."""
        self.uploaded.add(merchant, builder.first_offset, builder.last_offset, builder.name)
        recorded = self.uploaded.encode(self.committed or 0)
        if journal is not None and recorded != self.recorded:
            await journal.write_uploaded(self.tp, recorded)
            self.recorded = recorded

    def new_file(self, item: BatchItem, offset: int, merchants: Merchants, now: float) -> BatchBuilder:
        """A new open file of ``item``'s merchant, starting at ``offset``."""
        merchant, tp = item.merchant, self.tp
        label = file_merchant(merchant, merchants)
        return BatchBuilder(self.kind, tp.topic, tp.partition, offset, now, merchant=label, mid=merchant.mid)

    def passed(self, position: int) -> None:
        """Its consumer reads on from ``position`` (offsets.py :func:`pass_markers`)."""
        if self.position is None or position > self.position:
            self.position = position

    def committable(self) -> int | None:
        """The first offset of a file not uploaded yet, whichever its merchant, else the position."""
        firsts = [*self.uploading, *(b.first_offset for b in self.open.values())]
        firsts += [next(iter(kept.values())) for kept in self.skipped.values() if kept]
        return min(firsts) if firsts else self.position


def commit_offsets(parts: Iterable[BatchPartition]) -> dict[TopicPartition, int]:
    """The offsets to commit: each partition's committable offset, where it moved past its commit."""
    offsets: dict[TopicPartition, int] = {}
    for part in parts:
        offset = part.committable()
        if offset is not None and (part.committed is None or offset > part.committed):
            offsets[part.tp] = offset
    return offsets


async def record_skipped(ledger: Ledger, part: BatchPartition) -> None:
    """Write ``part``'s skipped events to the ledger (waiting out a Kafka outage), then let the
    commit pass them."""
    for name, kept in list(part.skipped.items()):
        taken = list(kept)  # others may come while the ledger is written
        ids = [e for e in taken if not ledger.has(part.kind, e)]
        if ids:
            entry = {"flow": part.kind, **({"batchFile": name} if name else {})}
            write = kafka_op(partial(ledger.record_all, part.kind, ids, part.tp.partition, entry))
            await retry(write, OUTAGE, what="ledger", log=log)
        for event_id in taken:
            kept.pop(event_id, None)
        if not kept and part.skipped.get(name) is kept:
            del part.skipped[name]


async def commit(
    consumer: AIOKafkaConsumer, parts: list[BatchPartition], ledger: Ledger, *, taken: bool = False
) -> None:
    """Commit ``parts`` as far as they may go, their skipped events in the ``ledger`` first; a
    failure is logged and the next commit tries again. ``taken``: every record the consumer handed
    out was taken, so the commit may pass the transaction markers after them (``pass_markers``)."""
    if taken:
        await pass_markers(consumer, {part.tp: part for part in parts})
    for part in parts:
        if part.skipped:
            await record_skipped(ledger, part)
    offsets = commit_offsets(parts)
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except KafkaError as exc:
        log.warning("batch commit of %d partitions failed (%s); will retry", len(offsets), exc)
        return
    for part in parts:
        if part.tp in offsets:
            part.committed = offsets[part.tp]


async def drain_uploads(parts: list[BatchPartition], timeout: float) -> None:
    """Give the uploads in flight of ``parts`` (revoked) ``timeout`` seconds to finish, and cancel
    the rest: their files' records are read again and uploaded by the next owner."""
    tasks = [t for part in parts for t in part.uploading.values()]
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=timeout)
    for task in late:
        task.cancel()
    if late:
        log.warning("%d batch uploads unfinished at revocation; the next owner redoes them", len(late))
        await asyncio.wait(late)


def held_stats(
    parts: Mapping[TopicPartition, BatchPartition],
    waiting: Mapping[TopicPartition, str],
    now: float,
    metrics: Metrics,
    consumer: AIOKafkaConsumer | None,
) -> dict[str, Any]:
    """The batch consumer's partitions for ``/ready`` (and their gauges, refreshed): those held,
    their open and uploading files, the age of the oldest file not uploaded yet (open or
    uploading: a file whose upload keeps failing grows it), and the partitions still being
    prepared (assign.py) with their last error. The lag gauges: each held partition's records past
    its committed offset (which never passes a file not uploaded yet), to the ``consumer``'s fetch
    high watermark, and how long the oldest of them has waited (offsets.py ``EndTimes``)."""
    held = list(parts.values())
    files = [b for p in held for b in (*p.open.values(), *p.sending.values())]
    oldest = max((now - b.opened_at for b in files), default=0.0)
    metrics.batch_oldest_unuploaded.set(oldest)
    metrics.batch_partitions_waiting.set(len(waiting))
    if consumer is not None:
        for part in held:
            part.ends.saw(consumer.highwater(part.tp), now)
        waited = {tp: part.ends.waited(part.committed or 0, now) for tp, part in parts.items()}
        metrics.set_lag(metrics.batch_consumer_lag, lag_of(consumer.highwater, parts))
        metrics.set_lag(metrics.batch_consumer_lag_seconds, waited)
    return {
        "partitions": len(held),
        "open_files": sum(len(p.open) for p in held),
        "uploading": sum(len(p.uploading) for p in held),
        "oldest_unuploaded_seconds": round(oldest, 3),
        "partitions_waiting": {f"{tp.topic}:{tp.partition}": error for tp, error in waiting.items()},
    }
