"""Eight fixes to faust-streaming 0.15.3 (pinned): the worker's agents skip no record, a table's
recovery trusts no under-reported end of its changelog, a record batch that cannot be decoded
holds back its own partition only, a worker forgets the table entries of partitions it lost, and
its consumer reads with ``FLEXBRIDGE_KAFKA__ISOLATION_LEVEL`` as flexbridge's own do (Faust reads
``read_uncommitted`` unless its own transactions are on: a command a downstream service produced
in a transaction it then aborted would be run).

After a rebalance, Faust's ``Recovery.on_recovery_completed`` resumes the stream partitions, seeks
them to their committed offsets and only then resumes the flow control, which empties every agent's
queue. Its fetcher already runs (it read the changelog), so records handed out during the seek land
in those queues and are thrown away, while the consumer's position has moved past them. Faust counts
on the seek to bring them back, but aiokafka's ``seek_to_committed`` only seeks partitions whose
committed offset is above 0, so on a partition that has never been committed nothing brings them
back. The agent then waits for records that never come (until the next rebalance): a command stays
unanswered, a status is not applied to the order table.

* :func:`_on_recovery_completed` stops the flow before Faust resumes the stream partitions, so
  nothing is handed out before the seek; Faust resumes the flow at the end, as before.
* :func:`_seek_to_committed` also seeks stream partitions committed at 0 to 0 and uncommitted ones
  to where ``consumer_auto_offset_reset`` says, so every "seek back to committed" Faust does
  (here, and when a fetch returns while the flow is stopped) really goes back. Changelog
  partitions are left alone: the group never commits them, Faust positions them itself.

Both are at-least-once like Faust: a record handed out before its commit may come again after a
seek, and the handlers are idempotent.

* :func:`changelog_ends` replaces ``AIOKafkaConsumerThread._highwaters``, where a table's recovery
  learns how far each changelog partition goes. Faust asks ListOffsets, which the embedded broker
  answers short (streams/kafka/ends.py). A worker that already held a copy of the table (the
  partition was its own before the rebalance) then finds its copy *ahead* of that end and stops
  with ``ConsistencyError: The persisted offset … is higher than the last offset in that topic
  (highwater)``, and a worker recovering from scratch stops reading one record short and serves a
  stale order. The fix takes the larger of ListOffsets and a fetch's high watermark, the rule every
  other flexbridge reader follows.

Two more crashes, seen in a rolling restart on an overloaded machine:

* :func:`_seek_offsets`: Faust seeks an offset of -1 (nothing read yet) as 0, but hands None (a
  partition with no persisted offset) or anything below -1 (an earliest offset of -1, less one) to
  aiokafka, which raises ``ValueError: Offset must be a positive integer`` or ``TypeError`` and
  stops the worker. Those now mean -1 too: recovery reads the partition from the beginning.
* :func:`_verify_event_path`: Faust's livelock detector reads the position of a partition assigned
  but not yet fetched, and aiokafka's ``assert self._position is not None`` stops the worker. Such
  a partition has nothing to verify yet; it is checked at the next round.

One for the in-memory table store, which drops the keys of the partitions a worker no longer holds
once a recovery completes, but knows the partition only of the keys it read from the changelog: a
key the worker's own agent wrote stayed after its partition went to another worker, so every
rebalance left it more of the order table than its share, for good.

* :func:`_on_key_set` notes, after Faust's own work, the partition of each key an agent writes
  (the event's, the changelog record's) where the store notes those it recovers;
  :func:`_on_key_del` forgets it; the order table's writes outside an agent's event (its
  retention's deletes, the order-state agent's batches) do the same (streams/runtime/faust_table.py).

And one for a record batch that cannot be decoded (streams/runtime/undecodable.py has how aiokafka
fails on one). Faust's fetcher reads every partition of the agents (``orders.commands``,
``orders.status``) and of the tables' changelogs in one ``getmany``; such a batch on any of them
raised from every fetch, and no agent got another record.

* :func:`_fetch_records` reads through a :class:`GuardedFetch` of Faust's aiokafka consumer (reader
  ``agents``), as the pipeline and the batch consumer do: the partition is paused at the batch,
  logged once, counted in ``flexbridge_undecodable_batches_total`` and named by ``/ready``
  (:func:`watch_undecodable`); the others go on. Faust's own seeks and assignments tell the guard
  where each partition now starts, so a rewind after a failed fetch never skips a record Faust asked
  to read again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

import aiokafka
from aiokafka import TopicPartition
from aiokafka.errors import ConsumerStoppedError
from faust.tables.recovery import Recovery
from faust.tables.table import Table
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from core.settings import KafkaSettings
from streams.kafka.clients import client_options
from streams.kafka.ends import probe_ends
from streams.runtime import faust_commit, faust_eager, faust_offsets, faust_recovery, faust_router
from streams.runtime.faust_table import note, unnote
from streams.runtime.undecodable import GuardedFetch, Held

__all__ = ["apply", "changelog_ends", "seek_to_committed", "watch_undecodable"]

_original_on_recovery_completed = Recovery.on_recovery_completed
_original_highwaters = AIOKafkaConsumerThread._highwaters
_original_seek_offsets = Recovery._seek_offsets
_original_verify_event_path = AIOKafkaConsumerThread.verify_event_path
_original_seek_wait = AIOKafkaConsumerThread._seek_wait
_original_seek = AIOKafkaConsumerThread.seek
_original_seek_to_beginning = AIOKafkaConsumerThread.seek_to_beginning
_original_on_partitions_assigned = AIOKafkaConsumerThread.on_partitions_assigned
_original_create_worker_consumer = AIOKafkaConsumerThread._create_worker_consumer
_original_on_key_set = Table.on_key_set
_original_on_key_del = Table.on_key_del

_guards: WeakKeyDictionary[Any, GuardedFetch] = WeakKeyDictionary()  # by Faust app
_reporters: WeakKeyDictionary[Any, Callable[[Held], None]] = WeakKeyDictionary()  # by Faust app


async def _seek_offsets(self: Recovery, consumer: Any, tps: Any, offsets: Any, title: str) -> None:
    for tp in tps:
        if offsets[tp] is None or offsets[tp] < -1:
            offsets[tp] = -1
    await _original_seek_offsets(self, consumer, tps, offsets, title)


def _on_key_set(self: Table[Any, Any], key: Any, value: Any) -> None:
    _original_on_key_set(self, key, value)
    partition = self.partition_for_key(key)  # the current event's (None with a partitioner)
    if partition is not None:
        note(self, key, partition)


def _on_key_del(self: Table[Any, Any], key: Any) -> None:
    _original_on_key_del(self, key)
    unnote(self, key)


def _verify_event_path(self: AIOKafkaConsumerThread, now: float, tp: Any) -> None:
    try:
        _original_verify_event_path(self, now, tp)
    except AssertionError:
        return  # the partition's position is not known yet: nothing to verify this round


async def _on_recovery_completed(self: Recovery, generation_id: int = 0) -> None:
    self.app.consumer.stop_flow()
    await _original_on_recovery_completed(self, generation_id)


async def _seek_to_committed(self: AIOKafkaConsumerThread) -> Mapping[Any, int | None]:
    app = self.app
    leave = set(app.tables.changelog_topics)
    committed: Mapping[Any, int | None] = await self.call_thread(
        seek_to_committed, self._ensure_consumer(), app.conf.consumer_auto_offset_reset, leave
    )
    _moved(self, {tp: offset for tp, offset in committed.items() if tp.topic not in leave})
    return committed


def watch_undecodable(app: Any, on_held: Callable[[Held], None]) -> Callable[[], list[Held]]:
    """Count the partitions of ``app``'s Faust consumer held at an undecodable batch with ``on_held``;
    returns what ``/ready`` asks: the partitions held now."""
    _reporters[app] = on_held

    def held() -> list[Held]:
        guard = _guards.get(app)
        return guard.held() if guard is not None else []

    return held


def _guard(thread: AIOKafkaConsumerThread, consumer: aiokafka.AIOKafkaConsumer) -> GuardedFetch:
    guard = _guards.get(thread.app)
    if guard is None or guard.consumer is not consumer:
        reporter, watcher = _reporters.get(thread.app), faust_offsets.handed(thread.app)
        guard = _guards[thread.app] = GuardedFetch(consumer, "agents", reporter, watcher)
    return guard


def _moved(thread: AIOKafkaConsumerThread, positions: Mapping[Any, int | None]) -> None:
    guard = _guards.get(thread.app)
    if guard is not None and guard.consumer is thread._consumer:
        guard.moved({TopicPartition(tp.topic, tp.partition): o for tp, o in positions.items()})


async def _fetch_records(
    self: AIOKafkaConsumerThread,
    consumer: aiokafka.AIOKafkaConsumer,
    active_partitions: Iterable[Any] | None,
    timeout: float | None = None,
    max_records: int | None = None,
) -> Any:
    """Faust's fetch (its flow and stop checks first), through the guard of its consumer."""
    if not self.consumer.flow_active:
        return {}
    if consumer._closed or consumer._fetcher._closed:
        raise ConsumerStoppedError()
    tps = [TopicPartition(tp.topic, tp.partition) for tp in active_partitions or ()]
    limit = max_records or consumer._max_poll_records
    return await _guard(self, consumer).getmany(
        *tps, timeout_ms=int((timeout or 0) * 1000), max_records=limit
    )


async def _seek_wait(self: AIOKafkaConsumerThread, consumer: Any, partitions: Mapping[Any, int]) -> None:
    await _original_seek_wait(self, consumer, partitions)
    _moved(self, partitions)


def _seek(self: AIOKafkaConsumerThread, partition: Any, offset: int) -> None:
    _original_seek(self, partition, offset)
    _moved(self, {partition: offset})


async def _seek_to_beginning(self: AIOKafkaConsumerThread, *partitions: Any) -> None:
    await _original_seek_to_beginning(self, *partitions)
    _moved(self, dict.fromkeys(partitions))


async def _on_partitions_assigned(
    self: AIOKafkaConsumerThread, assigned: Any, generation_id: int = 0
) -> None:
    guard = _guards.get(self.app)
    if guard is not None:  # the new assignment starts where Faust seeks it, unpaused
        guard.assigned([TopicPartition(tp.topic, tp.partition) for tp in assigned])
    await _original_on_partitions_assigned(self, assigned, generation_id)


async def seek_to_committed(
    consumer: aiokafka.AIOKafkaConsumer, reset: str, leave: Collection[str] = ()
) -> Mapping[Any, int | None]:
    """Seek every assigned partition to its committed offset, one never committed to ``reset``
    (``earliest`` or ``latest``), except those of the topics in ``leave``. Returns the committed
    offsets, None where there is none."""
    committed: dict[Any, int | None] = await consumer.seek_to_committed()
    never = [tp for tp, offset in committed.items() if offset is None and tp.topic not in leave]
    for tp, offset in committed.items():
        if offset == 0 and tp.topic not in leave:
            consumer.seek(tp, 0)
    # All at once: each call waits for the fetcher to reset its partitions, which it does between
    # fetches, so one call per partition waited a fetch (up to Faust's 1.5 s fetch wait) each.
    if never and reset == "earliest":
        await consumer.seek_to_beginning(*never)
    elif never and reset == "latest":
        await consumer.seek_to_end(*never)
    return committed


async def changelog_ends(
    kafka: KafkaSettings, consumer: AIOKafkaConsumerThread, partitions: list[TopicPartition]
) -> Mapping[TopicPartition, int]:
    """In place of ``AIOKafkaConsumerThread._highwaters``: the end of each partition as a fetch's high
    watermark has it, never below the ListOffsets answer (in a transaction: Faust's own answer)."""
    if consumer.consumer.in_transaction:
        return await _original_highwaters(consumer, partitions)
    return await probe_ends(client_options(kafka), partitions)


def apply(kafka: KafkaSettings) -> None:
    """Install the eight fixes, the eager delivery (streams/runtime/faust_eager.py), the commit
    after the table writes (streams/runtime/faust_commit.py), never past a record in flight
    (streams/runtime/faust_offsets.py) and a recovery step that times out starting the recovery
    again (streams/runtime/faust_recovery.py), idempotent; ``kafka`` is how the recovery fix
    reaches the broker. Also: the router's views answer 404 for a name that is no table
    (streams/runtime/faust_router.py)."""

    async def _highwaters(self: AIOKafkaConsumerThread, partitions: list[TopicPartition]) -> Any:
        return await changelog_ends(kafka, self, partitions)

    def _create_worker_consumer(self: AIOKafkaConsumerThread, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = _original_create_worker_consumer(self, transport)
        consumer._isolation_level = kafka.isolation_level  # its start() hands it to its fetcher
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
    Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
    AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed  # type: ignore[method-assign,assignment]
    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]
    Recovery._seek_offsets = _seek_offsets  # type: ignore[method-assign]
    AIOKafkaConsumerThread.verify_event_path = _verify_event_path  # type: ignore[method-assign]
    AIOKafkaConsumerThread._fetch_records = _fetch_records  # type: ignore[method-assign]
    AIOKafkaConsumerThread._seek_wait = _seek_wait  # type: ignore[method-assign]
    AIOKafkaConsumerThread.seek = _seek  # type: ignore[method-assign]
    AIOKafkaConsumerThread.seek_to_beginning = _seek_to_beginning  # type: ignore[method-assign]
    AIOKafkaConsumerThread.on_partitions_assigned = _on_partitions_assigned  # type: ignore[method-assign,assignment]
    Table.on_key_set = _on_key_set  # type: ignore[method-assign]
    Table.on_key_del = _on_key_del  # type: ignore[method-assign]
    faust_eager.install()
    faust_commit.install()
    faust_offsets.install()
    faust_recovery.install()
    faust_router.install()
