"""Which offset of a partition Faust's agents may commit: never past a record still in flight, and
past a producer transaction's markers.

Faust (``Consumer._new_offset``) commits up to the first gap in the offsets its agents acked, but
reads that list of offsets loosely, which was harmless while every agent acked in order:

* it takes a run of acked offsets starting one *after* the committed offset as starting at it. The
  command agent acks each command once answered, several at once
  (``FLEXBRIDGE_ORDERS__COMMANDS_IN_FLIGHT``): with the commit at 10, command 10 waiting on Flex and
  command 11 answered, Faust committed 12. A never-committed partition (committed offset 0 or
  unknown) was committed past any number of commands in flight. A worker killed then (SIGKILL, a
  node lost) left command 10 to no one: never run, never answered;
* where offsets are skipped (a transaction's commit marker, records of an aborted transaction) it
  counts the next record as skipped too, so a record after a marker could be committed in flight;
* it never passes a marker after a partition's last record: a quiet partition stays one short for
  ever (``kafka-consumer-groups`` and lag exporters show 1).

:class:`Handed` keeps, by partition, the offsets of the records Faust's fetch handed out, in the
order handed out, and the consumer's position after each fetch (the guarded fetch of
streams/runtime/undecodable.py reports both, from Faust's consumer thread). The offset committable
(:func:`_new_offset`) is one past the last record of the longest run of handed-out records, from the
first, that the agents acked; once every record handed out is acked, the position (past the
markers and aborted records the fetch skipped, as the pipeline's commit passes them:
``offsets.py`` ``pass_markers``). Offsets never handed out between two records are no records of
this consumer, so no gap needs tracking. A record handed out again after a seek is listed again;
its second entry is passed with the first (Faust acks by offset). An assignment starts every list
again: Faust committed what its agents acked before the revocation, and seeks to it. Only topics
whose acks Faust tracks (the agents') are kept: the changelogs' records are never acked. Installed by
:func:`streams.runtime.faust_fixes.apply`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faust.transport.consumer import Consumer
from faust.types.tuples import ack_lock

__all__ = ["Handed", "handed", "install"]

_original_filter_tps = Consumer._filter_tps_with_pending_acks
faust_new_offset = Consumer._new_offset  # Faust's own rule (its unit test shows what it gets wrong)


class Handed:
    """The records of the acked topics handed out and not committed yet, and the positions."""

    def __init__(self, acked_topic: Callable[[str], bool]) -> None:
        self._acked_topic = acked_topic
        self._lock = threading.Lock()  # taken in Faust's consumer thread and in the event loop's
        self._out: dict[TopicPartition, deque[int]] = {}
        self._position: dict[TopicPartition, int] = {}

    def took(self, consumer: AIOKafkaConsumer, got: Mapping[TopicPartition, list[ConsumerRecord]]) -> None:
        """``consumer`` handed out ``got``; its positions are past them (and past what it skipped)."""
        subscription = consumer._subscription.subscription
        assignment = subscription.assignment if subscription is not None else None
        with self._lock:
            for tp, records in got.items():
                if records and self._acked_topic(tp.topic):
                    self._out.setdefault(tp, deque()).extend(r.offset for r in records)
            if assignment is None:
                return
            for tp in assignment.tps:
                state = assignment.state_value(tp) if self._acked_topic(tp.topic) else None
                if state is not None and state._position is not None:
                    self._position[tp] = state._position

    def moved(self, tps: Iterable[TopicPartition]) -> None:
        """Faust seeked ``tps`` (back to their committed offsets): their positions are not known
        until the next fetch. The records handed out stay listed: those in flight are acked by
        offset, whichever copy ends first, and those dropped are handed out again."""
        with self._lock:
            for tp in tps:
                self._position.pop(tp, None)

    def assigned(self, tps: Iterable[TopicPartition]) -> None:
        """A new assignment (all of it: aiokafka rebalances eagerly) starts every list again."""
        with self._lock:
            self._out.clear()
            self._position.clear()

    def partitions(self) -> list[TopicPartition]:
        with self._lock:
            return list(self._position)

    def committable(self, tp: TopicPartition, acked: Collection[int], committed: int | None) -> int | None:
        """The offset ``tp`` may be committed at, past ``committed``, or None: the end of the run of
        handed-out records in ``acked`` from the first, or the position once all of them are."""
        floor = committed or 0
        new = None
        with self._lock:
            out = self._out.get(tp)
            while out:
                offset = out[0]
                if offset >= floor:  # below: handed out again after a seek, and passed since
                    if offset not in acked:
                        return new
                    new = floor = offset + 1
                out.popleft()
            position = self._position.get(tp)
        return position if position is not None and position > floor else new


_handed: WeakKeyDictionary[Any, Handed] = WeakKeyDictionary()  # by Faust app


def handed(app: Any) -> Handed:
    """``app``'s :class:`Handed`, made on first use."""
    found = _handed.get(app)
    if found is None:
        found = _handed[app] = Handed(app.topics.acks_enabled_for)
    return found


def _new_offset(self: Consumer, tp: Any) -> int | None:
    """``Consumer._new_offset``: :meth:`Handed.committable`; the acked offsets it passes are dropped
    (under the lock Faust's ``ack`` takes to book an offset)."""
    with ack_lock:
        acked = self._acked_index[tp]
        offset = handed(self.app).committable(tp, acked, self._committed_offset[tp])
        if offset is not None:
            self._acked[tp] = [o for o in self._acked[tp] if o >= offset]
            self._acked_index[tp] = {o for o in acked if o >= offset}
    return offset


def _filter_tps_with_pending_acks(self: Consumer, topics: Any = None) -> Iterator[Any]:
    """Faust's, and the partitions handed out from whose position may pass markers: a quiet
    partition that ends with one, read since this worker started, acks nothing."""
    tps = set(_original_filter_tps(self, topics))
    for tp in handed(self.app).partitions():
        if topics is None or tp in topics or tp.topic in topics:
            tps.add(tp)
    return iter(tps)


async def _add_gap(self: Consumer, tp: Any, offset_from: int, offset_to: int) -> None:
    """``Consumer._add_gap``: skipped offsets need no tracking (see the module's docstring)."""


def install() -> None:
    """Idempotent."""
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    Consumer._filter_tps_with_pending_acks = _filter_tps_with_pending_acks  # type: ignore[method-assign]
    Consumer._add_gap = _add_gap  # type: ignore[method-assign]
