"""Batch records still waiting for their result, so the webhook receiver holds their outcome back.

A batch record's order is ``PENDING`` (source ``batch``) on ``orders.status`` from its upload until
the result poller reads Flex's response file (``SUBMITTED`` or ``REJECTED``) or gives up on it
(``FAILED`` ``no-batch-result``). Flex may send the order's outcome webhook before that: the
response file is read only after its minimum age, at the next poll, by the worker that holds the
batch's partition (seconds later during a rebalance), and real Flex may send the webhook before it
even writes the file. Published then, the outcome would come before the batch's ``SUBMITTED`` on
``orders.status``, an illegal move for every reader of the topic.

So while an order waits for its batch result, the receiver answers its outcome webhook 503 without
publishing anything (DESIGN §3: 2xx only once Kafka has both records), and Flex retries; the retry
after the poller's status is published after it. Every worker follows ``orders.status`` (all
partitions, from :data:`WINDOW_SECONDS` back) and remembers only the orders whose last status is a
batch ``PENDING``: at most :data:`MAX_ENTRIES`, the oldest forgotten first (with a warning), and
none older than the window (the follower runs off the receiver's request path). An
outcome whose retries all run out while held is not lost: by then the order is ``SUBMITTED`` (or
``FAILED`` ``no-batch-result``), and order reconciliation (streams/runtime/reconcile.py) looks it
up at Flex and publishes its state.

The worker that uploads a file holds its orders before the file is renamed into Flex's inbound
folder (:meth:`AwaitingResults.uploading`), without waiting for its follower to read their
``PENDING`` back: Flex may answer sooner (the sandbox within its next scan of the folder; the
embedded broker answers a waiting fetch only when it looks again). Other workers learn them
through their followers, a fetch later (at most a tenth of a second more while statuses keep
coming: the follower's pace), while Flex takes seconds or more to process a file.

The same follower keeps each order's latest status (streams/runtime/latest_statuses.py): a webhook
delayed past a later status is not published to ``orders.status``, and Flex's late answer to an
``/evaluate`` is published marked ``detail.late``. Every worker runs it (streams/runtime/services.py),
whether it receives webhooks or not.

Both know an order by its key among every merchant's (``mid/orderId`` from the status's
``detail.mid``, ``consumers/order_keys.py``): two merchants' orders of one orderId are two orders,
and a webhook on one merchant's path is held or superseded by that merchant's order only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from consumers.order_keys import order_key
from core.settings import KafkaSettings
from streams.kafka.clients import Records, tail_topic
from streams.runtime.latest_statuses import LatestStatuses
from streams.runtime.supervise import supervise

__all__ = ["MAX_ENTRIES", "WINDOW_SECONDS", "AwaitingFollower", "AwaitingResults"]

log = logging.getLogger(__name__)

MAX_ENTRIES = 200_000  # orders awaiting a batch result remembered at once (~100 bytes each)
WINDOW_SECONDS = 2 * 3600.0  # a PENDING older than this is forgotten (its FAILED verdict came by then)


class AwaitingResults:
    """order key (``mid/orderId``) → when its batch ``PENDING`` was published, for orders with no
    later status yet."""

    def __init__(self, max_entries: int = MAX_ENTRIES, window_seconds: float = WINDOW_SECONDS) -> None:
        self._orders: dict[str, float] = {}  # insertion order: the oldest PENDING first
        self._max = max_entries
        self._window = window_seconds
        self.forgotten = 0  # dropped to stay within max_entries

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, key: object) -> bool:
        return key in self._orders

    def observe(self, key: str, status: str, source: str, at: float) -> None:
        """A status of the order ``key`` (``mid/orderId``) was read from ``orders.status``, in order."""
        self._orders.pop(key, None)
        if status == "PENDING" and source == "batch":
            self._orders[key] = at
            self._trim(at)

    def uploading(self, keys: Iterable[str], at: float) -> None:
        """This worker's batch path published these orders' ``PENDING`` and is about to make their
        file visible to Flex: they are held from now on, before the follower reads them back."""
        orders = self._orders
        for key in keys:
            orders.pop(key, None)
            orders[key] = at
        self._trim(at)

    def holds(self, key: str | None, status: str | None, now: float) -> bool:
        """Whether a webhook status for the order ``key`` must wait: it awaits its batch result."""
        if key is None or status is None or status in ("PENDING", "SUBMITTED"):
            return False
        since = self._orders.get(key)
        return since is not None and now - since <= self._window

    def _trim(self, now: float) -> None:
        orders = self._orders
        while orders:
            oldest, since = next(iter(orders.items()))
            over = len(orders) > self._max
            if not over and now - since <= self._window:
                return
            del orders[oldest]
            if over:
                self.forgotten += 1
                if self.forgotten % 10_000 == 1:  # its outcome webhook is published unheld
                    log.warning("over %d orders await a batch result: the oldest forgotten", self._max)


class AwaitingFollower:
    """Follows ``orders.status`` (every partition) into an :class:`AwaitingResults`."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        producer: AIOKafkaProducer,
        *,
        clock: Callable[[], float] = time.time,
        results: AwaitingResults | None = None,
    ) -> None:
        self._kafka, self._topic, self._producer = kafka, topic, producer
        self._clock = clock
        self.results = results if results is not None else AwaitingResults()
        self.latest = LatestStatuses()
        self.loaded = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = supervise("orders-status-follower", self._follow)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def holds(self, key: str | None, status: str | None) -> bool:
        return self.results.holds(key, status, self._clock())

    async def _follow(self) -> None:
        observe, seek = self._observe_all, self._seek_to_window
        await tail_topic(self._kafka, self._producer, self._topic, observe, self._on_loaded, seek=seek)

    def _on_loaded(self) -> None:
        self.loaded.set()
        log.info("orders awaiting a batch result read back: %d", len(self.results))

    async def _seek_to_window(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        """Start at the window's first record where the broker says where that is, else at the start."""
        await consumer.seek_to_beginning(*tps)
        since = int((self._clock() - WINDOW_SECONDS) * 1000)
        try:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, since))
        except KafkaError as exc:
            log.info("offsets_for_times unavailable (%s); reading orders.status from the start", exc)
            return
        for tp, at in found.items():
            if at is not None and at.offset > 0:
                consumer.seek(tp, at.offset)

    def _observe_all(self, records: Records) -> None:
        for rec in records:
            if rec.value is not None:
                self._observe(rec.value, rec.timestamp)

    def _observe(self, value: bytes, timestamp: int | None) -> None:
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError:
            return
        if not isinstance(doc, dict) or not isinstance(doc.get("orderId"), str):
            return
        at = timestamp / 1000 if timestamp and timestamp > 0 else self._clock()
        detail = doc.get("detail")
        mid = detail.get("mid") if isinstance(detail, dict) else None
        order = order_key(doc["orderId"], mid if isinstance(mid, str) else None, by_merchant=True)
        status, source = str(doc.get("status")), str(doc.get("source"))
        self.results.observe(order, status, source, at)
        session = doc.get("orderSessionKey")
        session = session if isinstance(session, str) else None
        self.latest.observe(order, status, source, str(doc.get("occurredAt")), session)
