"""The order table's changelog records, handed to Kafka a produce batch per partition.

Faust sends each table write on its own: ``Table.send_changelog`` puts it in its producer buffer,
whose task hands it to aiokafka through ``Topic.publish_message``, with a ``FutureMessage``,
callbacks and an acknowledgement sensor for each. The order-state agent writes up to 64 orders a
turn, and that path cost the worker about as much CPU as the fold itself (docs/benchmarks.md, "The
order table's changelog a batch per partition").

:class:`Changelog` takes every write of the order table in the order it was made (the table's
``send_changelog`` is replaced by :func:`streams.runtime.faust_table.order_table`, so Faust's own
``on_key_set`` and ``on_key_del`` for the command agent, the fold's writes and the retention's
deletes all come here), and one task hands what was written since its last turn to Faust's
aiokafka producer: one produce batch per partition, as many as the batch size needs
(streams/kafka/bulk.py ``send_batches``). With one path and one task, a partition's records reach
Kafka in the order of the writes (aiokafka appends a partition's batch once the one before it has
left), as Faust's buffer kept them.

Faust commits no offset before the writes made until then are aiokafka's:
streams/runtime/faust_commit.py waits for :meth:`Changelog.handed_over`. A write that cannot be
handed over yet (Kafka down: aiokafka's batch queue stays full) is tried again after
:data:`RETRY_SECONDS`, in its place, and the writes after it wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerClosed

from streams.kafka.bulk import send_batches

__all__ = ["RETRY_SECONDS", "Changelog"]

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # before a write that could not be handed to aiokafka is tried again

_Records = list[tuple[bytes, bytes | None]]


class Changelog:
    """Writes to ``topic`` (a table's changelog) through ``producer()``: Faust's aiokafka producer,
    asked for at each turn (Faust makes it when it starts)."""

    def __init__(self, topic: str, producer: Callable[[], AIOKafkaProducer]) -> None:
        self.topic = topic
        self._producer = producer
        # by partition, in the order first written: its records, and the future of their acknowledgement
        self._queued: dict[int, tuple[_Records, asyncio.Future[None]]] = {}
        self.taken = 0  # writes taken in so far
        self.handed = 0  # of which handed to aiokafka (in the order taken)
        self._turn: asyncio.Task[None] | None = None
        self._handed_more = asyncio.Event()

    def send(self, partition: int, key: bytes, value: bytes | None) -> asyncio.Future[None]:
        """Queue ``key``'s record (None: a tombstone) for ``partition``; the future of Kafka's
        acknowledgement, shared by the records of that partition written in the same turn."""
        queued = self._queued.get(partition)
        if queued is None:
            queued = self._queued[partition] = ([], asyncio.get_running_loop().create_future())
        queued[0].append((key, value))
        self.taken += 1
        if self._turn is None:
            self._turn = asyncio.create_task(self._hand_over(), name="flexbridge-changelog")
        return queued[1]

    async def handed_over(self, count: int, seconds: float) -> bool:
        """Whether the first ``count`` writes are aiokafka's within ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                while self.handed < count:
                    self._handed_more.clear()
                    await self._handed_more.wait()
        except TimeoutError:
            return False
        return True

    async def _hand_over(self) -> None:
        """Turn after turn, everything queued since the last, until nothing is. ``handed`` counts a
        turn once all of it is aiokafka's: a commit waits for every write taken before it."""
        unsent: list[tuple[int, _Records, asyncio.Future[None]]] = []
        try:
            while self._queued:
                unsent = [(partition, *queued) for partition, queued in self._queued.items()]
                self._queued = {}
                producer = self._producer()
                count = sum(len(records) for _, records, _ in unsent)
                while unsent:
                    partition, records, acked = unsent[0]
                    sent = await self._send(producer, partition, records)
                    asyncio.gather(*sent).add_done_callback(partial(_acknowledged, acked, partition))
                    del unsent[0]
                self.handed += count
                self._handed_more.set()
        except ProducerClosed as exc:
            unsent += [(partition, *queued) for partition, queued in self._queued.items()]
            self._queued = {}
            left = sum(len(records) for _, records, _ in unsent)
            log.error("order table changelog: the producer closed with %d writes not sent", left)
            for _, _, acked in unsent:
                _failed(acked, exc)
        finally:
            self._turn = None

    async def _send(
        self, producer: AIOKafkaProducer, partition: int, records: _Records
    ) -> list[asyncio.Future[Any]]:
        """``records`` handed to ``producer``; tried again until they are, or it has closed."""
        while True:
            try:
                return await send_batches(producer, self.topic, partition, records)
            except ProducerClosed:
                raise
            except KafkaError as exc:
                log.warning(
                    "order table changelog: %d writes to partition %d not handed over (%s); again in %.0f s",
                    len(records),
                    partition,
                    type(exc).__name__,
                    RETRY_SECONDS,
                )
                await asyncio.sleep(RETRY_SECONDS)


def _acknowledged(acked: asyncio.Future[None], partition: int, gathered: asyncio.Future[Any]) -> None:
    """Resolve ``acked`` as Kafka answered the batches of one turn to ``partition``; a failure (after
    the producer's own retries) is logged."""
    if gathered.cancelled() or acked.done():
        return
    exc = gathered.exception()
    if exc is None:
        acked.set_result(None)
        return
    log.error("order table changelog: a write to partition %d failed (%s)", partition, type(exc).__name__)
    _failed(acked, exc)


def _failed(acked: asyncio.Future[None], exc: BaseException) -> None:
    """``acked`` fails with ``exc``; unawaited (a fold's write), that is not logged again."""
    if acked.done():
        return
    acked.set_exception(exc)
    acked.exception()  # marks it retrieved: a command awaiting it still gets the exception
