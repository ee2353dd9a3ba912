"""A record batch that cannot be decoded holds back its own partition only, and is named.

aiokafka 0.14 decodes a fetched batch lazily, inside ``getmany``: a CRC mismatch
(``CorruptRecordException``), a codec it does not know (``UnsupportedCodecError``) or a codec's own
error on garbage (zlib, cramjam, struct …) is raised from the call, for every partition at once. The
call does not say which partition failed, and the records it had already taken from the partitions
it read before the bad one are dropped with their positions moved past them. Retrying the whole
call, as a plain loop does, meets the same batch again for ever, and each try skips records of the
healthy partitions that were read before it.

:class:`GuardedFetch` wraps ``getmany``. On such an error it seeks every partition that lost records
back to the first record not yet handed out, finds the partition whose batch broke off (its position
jumped to the batch without a record), seeks it back too and pauses it, so the other partitions go
on. The held partition is logged once and counted (topic, partition, offset of the batch) and stays
paused until an operator acts: skipping it would lose payments (docs/operations.md).

A caller may read a subset of its partitions (``getmany(*partitions)``, as Faust's fetcher does):
only those are rewound and probed. A caller that moves positions itself tells :meth:`moved`, so a
rewind never goes past records it asked to read again. A :class:`Watcher` is told what is handed
out and what its caller moved (Faust's commit: streams/runtime/faust_offsets.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    ConsumerStoppedError,
    CorruptRecordException,
    IllegalStateError,
    KafkaError,
    UnsupportedCodecError,
)

__all__ = ["GuardedFetch", "Held", "Watcher", "undecodable"]

log = logging.getLogger(__name__)

Records = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
_LOCATE_LIMIT = 100_000  # records read one at a time to find the failing batch
_EMPTY_READS = 20  # empty answers taken for a partition known to hold more before giving up on it


def undecodable(exc: BaseException) -> bool:
    """A decode error of a fetched batch: aiokafka's own, or a codec's (anything not a Kafka error)."""
    if isinstance(exc, CorruptRecordException | UnsupportedCodecError):
        return True
    return isinstance(exc, Exception) and not isinstance(exc, KafkaError | ConsumerStoppedError)


@dataclass(frozen=True, slots=True)
class Held:
    """A partition paused at a batch that cannot be decoded."""

    reader: str
    topic: str
    partition: int
    offset: int
    error: str

    def view(self) -> dict[str, Any]:
        return {
            "reader": self.reader,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "error": self.error,
        }


class Watcher(Protocol):
    def took(self, consumer: AIOKafkaConsumer, got: Records) -> None: ...
    def moved(self, tps: Collection[TopicPartition]) -> None: ...
    def assigned(self, tps: Collection[TopicPartition]) -> None: ...


class GuardedFetch:
    """``getmany`` of one consumer, holding back only a partition whose batch cannot be decoded."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        reader: str,
        on_held: Callable[[Held], None] | None = None,
        watcher: Watcher | None = None,
    ) -> None:
        self._consumer = consumer
        self._reader = reader
        self._on_held = on_held
        self._watcher = watcher
        self._next: dict[TopicPartition, int] = {}  # one past the last record handed out
        self._held: dict[TopicPartition, Held] = {}
        self._reported: set[tuple[TopicPartition, int]] = set()

    def assigned(self, tps: Collection[TopicPartition]) -> None:
        """A new assignment reads from the committed offset: forget what was handed out before."""
        for tp in tps:
            self._next.pop(tp, None)
            self._held.pop(tp, None)
        if self._watcher is not None:
            self._watcher.assigned(tps)

    @property
    def consumer(self) -> AIOKafkaConsumer:
        return self._consumer

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` again from ``offset``."""
        self._consumer.seek(tp, offset)
        self._next[tp] = offset

    def moved(self, positions: Mapping[TopicPartition, int | None]) -> None:
        """The caller moved these positions itself: to the offset given, or to one it does not know
        (None: a rewind of that partition starts from its committed offset)."""
        for tp, offset in positions.items():
            if offset is None:
                self._next.pop(tp, None)
            else:
                self._next[tp] = offset
        if self._watcher is not None:
            self._watcher.moved(list(positions))

    def held(self) -> list[Held]:
        """The assigned partitions held at an undecodable batch."""
        assigned = self._consumer.assignment()
        held = dict(self._held)  # a copy: the consumer may run in another thread (Faust's does)
        return [h for tp, h in held.items() if tp in assigned]

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int, max_records: int) -> Records:
        """The next records of ``partitions`` (none given: of every assigned partition)."""
        try:
            got: Records = await self._consumer.getmany(
                *partitions, timeout_ms=timeout_ms, max_records=max_records
            )
        except Exception as exc:
            if not undecodable(exc):
                raise
            return await self._recover(partitions, timeout_ms, max_records)
        self._handed(got)
        return got

    def _handed(self, got: Records) -> None:
        for tp, records in got.items():
            if records:
                self._next[tp] = records[-1].offset + 1
        if self._watcher is not None:
            self._watcher.took(self._consumer, got)

    async def _recover(
        self, partitions: Collection[TopicPartition], timeout_ms: int, max_records: int
    ) -> Records:
        """Rewind what the failed call dropped, then read each partition alone: the bad one fails alone."""
        paused, assigned = self._consumer.paused(), self._consumer.assignment()
        read = assigned.intersection(partitions) if partitions else assigned
        active = sorted((tp for tp in read if tp not in paused), key=str)
        got: Records = {}
        try:
            for tp in active:
                await self._rewind(tp)
            for tp in active:
                if records := await self._probe(tp, timeout_ms, max_records):
                    got[tp] = records
        except IllegalStateError:  # a rebalance meanwhile: the consumer restarts from the committed offsets
            return {}
        self._handed(got)
        return got

    async def _rewind(self, tp: TopicPartition) -> None:
        """Seek back over records the failed call took from ``tp`` and never handed out."""
        start = self._next.get(tp)
        if start is None:  # nothing handed out since the assignment: it started at the committed offset
            start = await self._consumer.committed(tp)
            if start is None:
                start = (await self._consumer.beginning_offsets([tp]))[tp]
        if await self._consumer.position(tp) > start:
            self.seek(tp, start)

    async def _probe(
        self, tp: TopicPartition, timeout_ms: int, max_records: int
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """``tp``'s next records; a partition whose batch fails on its own is held."""
        start = await self._consumer.position(tp)  # a failed call moves no position of its partition
        try:
            return await self._read(tp, timeout_ms, max_records)
        except Exception as exc:
            if not undecodable(exc):
                raise
            self._hold(tp, start, await self._locate(tp, timeout_ms), exc)
            return []

    async def _read(
        self, tp: TopicPartition, timeout_ms: int, max_records: int
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """``tp``'s next records. An empty answer while ``tp`` is known to hold more (its position below
        its high watermark) is asked again: a failed call drops what aiokafka had fetched, and
        fetching the partition anew can take longer than one timeout on a busy broker (the embedded
        broker holds a fetch up to half its wait), so one empty answer proves nothing."""
        for _ in range(_EMPTY_READS):
            got = await self._consumer.getmany(tp, timeout_ms=max(timeout_ms, 100), max_records=max_records)
            records: list[ConsumerRecord[bytes, bytes]] = got.get(tp, [])
            if records or not await self._has_more(tp):
                return records
        return []

    async def _has_more(self, tp: TopicPartition) -> bool:
        highwater = self._consumer.highwater(tp)
        return highwater is not None and await self._consumer.position(tp) < highwater

    async def _locate(self, tp: TopicPartition, timeout_ms: int) -> int:
        """The offset of the batch that fails: read ``tp`` a record at a time until it fails again."""
        for _ in range(_LOCATE_LIMIT):
            try:
                if not await self._read(tp, timeout_ms, 1):
                    break  # nothing comes any more: the position is as close as it gets
            except Exception as exc:
                if not undecodable(exc):
                    raise
                break
        position: int = await self._consumer.position(tp)
        return position

    def _hold(self, tp: TopicPartition, start: int, offset: int, exc: BaseException) -> None:
        self.seek(tp, start)  # the records read while locating the batch are read again after it
        self._consumer.pause(tp)
        held = Held(self._reader, tp.topic, tp.partition, offset, f"{type(exc).__name__}: {exc}")
        self._held[tp] = held
        if (tp, offset) in self._reported:
            return
        self._reported.add((tp, offset))
        log.error(
            "%s: the record batch at %s/%d offset %d cannot be decoded (%s); the partition is paused "
            "until an operator acts, the others go on",
            self._reader,
            tp.topic,
            tp.partition,
            offset,
            held.error,
        )
        if self._on_held is not None:
            self._on_held(held)
