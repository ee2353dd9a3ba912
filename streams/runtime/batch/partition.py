"""One source partition of the batch consumer (consumer.py): its open files by merchant, the uploads
in flight, and the offset its commit may reach; and the commit of such partitions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from consumers.sftp.files import BatchBuilder
from schemas.batch import BatchKind
from streams.runtime.batch.uploaded import Uploaded

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
    revoked: bool = False
    uploaded: Uploaded = field(default_factory=Uploaded)  # files uploaded past the commit
    recorded: str = ""  # ``uploaded`` as last written (uploaded.py)

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
