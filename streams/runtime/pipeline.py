"""A keyed, bounded-concurrency Kafka consumer that commits only what is finished.

Many keys are processed at once (up to ``max_in_flight`` records); records with the same key in
the same partition are processed strictly one after another, in offset order. An offset is
committed only when it and every offset below it in its partition are finished. On a rebalance,
work in flight for revoked partitions is finished (within a bound) and committed first.

aiokafka can hand out records of newly assigned partitions before ``on_partitions_assigned`` has
returned (the assign hook, e.g. the ledger load, is still running); those records are not dropped
but read again (seek back), and records fetched before a rebalance are left to be read again from
the committed offset. A record ``skip`` answers True for (the batch path's) is done once fetched,
without a task; ``on_skipped`` runs after each fetch's records are handed out.

The handler gets one record and must deal with bad data itself (DLQ); whatever it raises is an
infrastructure failure (Kafka down for the outputs): the record is retried with backoff, never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Hashable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from consumers.retry import OUTAGE, retry
from streams.kafka.clients import Rebalance
from streams.kafka.errors import kafka_op
from streams.runtime.logs import bind
from streams.runtime.offsets import PartitionOffsets, lag_of, learn_committed, pass_markers
from streams.runtime.supervise import supervise, watch
from streams.runtime.undecodable import GuardedFetch, Held

__all__ = ["Handler", "KeyedPipeline"]

log = logging.getLogger(__name__)

Handler = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]
AssignHook = Callable[[Collection[TopicPartition]], Awaitable[None]]
Skip = Callable[[ConsumerRecord[bytes, bytes]], bool]  # True: nothing to do for the record; never raises
_YIELD_EVERY = 64  # a run of skipped records yields to the event loop at least this often


class KeyedPipeline:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topics: list[str],
        handler: Handler,
        *,
        max_in_flight: int = 256,
        max_records: int = 1000,
        commit_interval: float = 1.0,
        drain_timeout: float = 7.0,  # below the rebalance timeout (core/settings.py)
        on_assign: AssignHook | None = None,
        on_held: Callable[[Held], None] | None = None,
        skip: Skip | None = None,
        on_skipped: Callable[[], None] | None = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        self._consumer, self._topics, self._handler = consumer, topics, handler
        self._slots = asyncio.Semaphore(max_in_flight)
        # records waiting without a slot (lend_slot): up to one fetch's worth
        self._lenders = asyncio.Semaphore(max(max_in_flight, max_records))
        self._max_records = max_records
        self._commit_interval, self._drain_timeout = commit_interval, drain_timeout
        self._on_assign = on_assign
        self._skip = skip
        self._on_skipped = on_skipped  # after each fetch's records: e.g. count the skipped ones at once
        self._gate = gate  # until it is set, assigned partitions stay paused (joined, read nothing)
        self.fetch = GuardedFetch(consumer, "pipeline", on_held)  # undecodable batch: holds its partition
        self._offsets: dict[TopicPartition, PartitionOffsets] = {}
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._committer: asyncio.Task[None] | None = None
        self._learner: asyncio.Task[None] | None = None
        self._opener: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._generation = 0  # +1 at each revocation: records fetched before it are stale
        self.joined = asyncio.Event()
        self.processed = self.polls = 0

    async def start(self) -> None:
        # subscribed once started: else start() waits seconds for the first assignment (``joined``)
        await self._consumer.start()
        self._consumer.subscribe(self._topics, listener=Rebalance(self.drain, self.assigned))
        self._runner = supervise("pipeline-fetch", self._run)
        self._committer = supervise("pipeline-commit", self._commit_loop)
        if self._gate is not None and not self._gate.is_set():
            self._opener = supervise("pipeline-gate", self._open_at_gate)

    async def stop(self) -> None:
        """Stop fetching, let work in flight finish (bounded), commit it, leave the group."""
        self._stopping.set()
        for task in (self._runner, self._committer, self._learner, self._opener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.drain(list(self._offsets))
        await self._consumer.stop()

    @property
    def in_flight(self) -> int:
        return sum(len(t) for t in self._tasks.values())

    @contextlib.asynccontextmanager
    async def lend_slot(self) -> AsyncIterator[None]:
        """Inside a handler: lend the record's slot to other records while it waits (e.g. for its
        merchant's share of the slots), and take one back after. At most ``max_records`` (one fetch)
        wait so at once; beyond that a record waits in its slot (memory stays bounded)."""
        async with self._lenders:
            self._slots.release()
            try:
                yield
            finally:  # shielded: a cancelled handler still gets a slot back for _forget to release
                await asyncio.shield(self._slots.acquire())

    async def assigned(self, assigned: Collection[TopicPartition]) -> None:
        if self._stopping.is_set():  # a join stop() let finish: no hook, no offset lookup to fail
            log.info("assigned %d partitions while stopping: left to the next owner", len(assigned))
            return
        self.fetch.assigned(assigned)
        self._consumer.pause(*assigned)  # nothing to hand out until the hook has run
        hook = self._on_assign
        if hook is not None:  # e.g. the ledger load: a Kafka outage is waited out, never skipped
            await retry(
                kafka_op(lambda: hook(assigned)), OUTAGE, what="preparing assigned partitions", log=log
            )
        for tp in assigned:
            self._offsets.setdefault(tp, PartitionOffsets())
            self._tasks.setdefault(tp, set())
        if self._gate is None or self._gate.is_set():  # else _open_at_gate resumes them
            self._resume(assigned)
        if self._learner is not None:
            self._learner.cancel()
        learn = list(assigned)
        self._learner = supervise(
            "pipeline-lag", lambda: learn_committed(self._consumer, self._offsets, learn)
        )
        self.joined.set()
        log.info("assigned %d partitions", len(assigned))

    def _resume(self, tps: Collection[TopicPartition]) -> None:
        """Read ``tps`` (those still assigned), but not one held at a batch that cannot be decoded."""
        held = {TopicPartition(h.topic, h.partition) for h in self.fetch.held()}
        self._consumer.resume(*(tp for tp in tps if tp in self._consumer.assignment() and tp not in held))

    async def _open_at_gate(self) -> None:
        """Assigned partitions stay paused until the gate opens: kept (the polls go on), unread."""
        assert self._gate is not None  # noqa: S101
        await self._gate.wait()
        log.info("reading the %d assigned partitions", len(self._offsets))
        self._resume(list(self._offsets))

    async def drain(self, revoked: Collection[TopicPartition]) -> None:
        """Finish (within the drain timeout) and commit the work of partitions we are losing."""
        self._generation += 1
        pending = [t for tp in revoked for t in self._tasks.get(tp, ())]
        if pending:
            _, late = await asyncio.wait(pending, timeout=self._drain_timeout)
            if late:
                log.warning(
                    "%d records still in flight after %.0f s; they will be redelivered",
                    len(late),
                    self._drain_timeout,
                )
                for task in late:
                    task.cancel()
        await self._commit([tp for tp in revoked if tp in self._offsets])
        for tp in revoked:
            self._offsets.pop(tp, None)
            self._tasks.pop(tp, None)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batches = await self.fetch.getmany(timeout_ms=200, max_records=self._max_records)
                self.polls += 1
            except KafkaError as exc:
                log.warning("fetch failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            generation, skip = self._generation, self._skip
            if not batches:  # quiet: the commit may pass a trailing transaction marker (offsets.py)
                await pass_markers(self._consumer, self._offsets)
            for tp, records in batches.items():
                for record in records:
                    if skip is not None and self._skipped_now(skip, tp, record, generation):
                        if self.processed % _YIELD_EVERY == 0:
                            await asyncio.sleep(0)  # a fetch of skipped records does not hold the loop
                        continue
                    if not await self._dispatch(tp, record, generation):
                        self._read_again(tp, record.offset, generation)
                        break
            if self._on_skipped is not None:
                self._on_skipped()

    def _read_again(self, tp: TopicPartition, offset: int, generation: int) -> None:
        """Fetch again a record of a partition not registered yet (its assign hook still runs), unless
        a rebalance came since (aiokafka restarts from the committed offset) or it is no longer ours."""
        if generation == self._generation and tp in self._consumer.assignment():
            self.fetch.seek(tp, offset)

    async def _dispatch(
        self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes], generation: int
    ) -> bool:
        """Start processing ``record``; False when its partition is not (or no longer) ours to run."""
        await self._slots.acquire()
        offsets, tasks = self._offsets.get(tp), self._tasks.get(tp)
        if offsets is None or tasks is None or generation != self._generation:
            self._slots.release()
            return False
        offsets.started(record.offset)
        key: Hashable = (tp, record.key) if record.key is not None else (tp, record.offset)
        task = watch(asyncio.create_task(self._process(offsets, record, self._tails.get(key))))
        self._tails[key] = task
        tasks.add(task)
        task.add_done_callback(lambda t: self._forget(key, tasks, t))
        return True

    def _skipped_now(
        self, skip: Skip, tp: TopicPartition, record: ConsumerRecord[bytes, bytes], generation: int
    ) -> bool:
        """Whether ``record`` was skipped: finished at once (its partition ours, ``skip`` True)."""
        offsets = self._offsets.get(tp)
        if offsets is None or generation != self._generation or not skip(record):
            return False
        offsets.started(record.offset)
        offsets.finished(record.offset)
        self.processed += 1
        return True

    def _forget(self, key: Hashable, tasks: set[asyncio.Task[None]], task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]
        self._slots.release()

    async def _process(
        self,
        offsets: PartitionOffsets,
        record: ConsumerRecord[bytes, bytes],
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        key = record.key.decode(errors="replace") if record.key is not None else None
        bind(orderId=key, topic=record.topic, partition=record.partition, offset=record.offset)
        await self._handle(record)
        offsets.finished(record.offset)
        self.processed += 1

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        what = f"record {record.topic}/{record.partition}@{record.offset}"
        # The handler's contract: what it raises is an infrastructure failure, so never skip the record.
        await retry(lambda: self._handler(record), OUTAGE, what=what, log=log, retriable=lambda _: True)

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self._commit_interval)
            await self._commit(list(self._offsets))

    async def _commit(self, tps: list[TopicPartition]) -> None:
        """Commit what is finished in ``tps``. A partition revoked meanwhile (the commit loop's list
        was taken before a rebalance, or the commit itself awaited one) is skipped: its drain commits."""
        offsets: dict[TopicPartition, int] = {}
        for tp in tps:
            state = self._offsets.get(tp)
            if state is not None and (offset := state.committable()) is not None:
                offsets[tp] = offset
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # CommitFailedError and IllegalStateError among them
            log.warning("commit of %d partitions failed (%s); will retry", len(offsets), exc)
            return
        for tp, offset in offsets.items():
            state = self._offsets.get(tp)
            if state is not None:
                state.committed = offset

    def lag(self) -> dict[TopicPartition, int]:
        return lag_of(self._consumer.highwater, self._offsets)

    def stats(self) -> dict[str, Any]:
        unread = self._gate is not None and not self._gate.is_set()  # joined, waiting for the gate
        counts = {
            "processed": self.processed,
            "in_flight": self.in_flight,
            "polls": self.polls,
            "unread": unread,
        }
        return {**counts, "partitions": len(self._offsets)}
