"""One source partition of the batch consumer (consumer.py): its open files by merchant, the uploads
in flight (and their files, until their events are in the ledger), and the offset its commit may
reach; and the commit of such partitions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from consumers.sftp.files import BatchBuilder
from schemas.batch import BatchKind
from streams.runtime.batch.uploaded import Uploaded, UploadedJournal

__all__ = ["BatchPartition", "commit", "commit_offsets"]

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

    def holds(self, merchant: str, event_id: str, *, others: bool) -> bool:
        """Whether ``merchant``'s open file has a record of event ``event_id``; with ``others``,
        whether any file of this partition not in the ledger yet (open, or uploading) has one."""
        mine = self.open.get(merchant)
        if mine is not None and mine.holds(event_id):
            return True
        files = (*self.open.values(), *self.sending.values()) if others else ()
        return any(builder.holds(event_id) for builder in files)

    async def record_upload(
        self, merchant: str, builder: BatchBuilder, journal: UploadedJournal | None
    ) -> None:
        """Before the rename: the file's range, durable until the commit passes it (uploaded.py)."""
        self.uploaded.add(merchant, builder.first_offset, builder.last_offset, builder.name)
        recorded = self.uploaded.encode(self.committed or 0)
        if journal is not None and recorded != self.recorded:
            await journal.write_uploaded(self.tp, recorded)
            self.recorded = recorded

    def committable(self) -> int | None:
        """The first offset of a file not uploaded yet, whichever its merchant, else the position."""
        firsts = [*self.uploading, *(b.first_offset for b in self.open.values())]
        return min(firsts) if firsts else self.position


def commit_offsets(parts: Iterable[BatchPartition]) -> dict[TopicPartition, int]:
    """The offsets to commit: each partition's committable offset, where it moved past its commit."""
    offsets: dict[TopicPartition, int] = {}
    for part in parts:
        offset = part.committable()
        if offset is not None and (part.committed is None or offset > part.committed):
            offsets[part.tp] = offset
    return offsets


async def commit(consumer: AIOKafkaConsumer, parts: list[BatchPartition]) -> None:
    """Commit ``parts`` as far as they may go; a failure is logged and the next commit tries again."""
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
