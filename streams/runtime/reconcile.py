"""Order reconciliation in the worker: a lost webhook never leaves an order unfinished.

Every ``FLEXBRIDGE_RECONCILE__INTERVAL_SECONDS`` each worker takes the orders of the ``orders`` table
partitions it owns (the active partitions of ``orders.status``; a standby copy is not its to ask
about), refreshes ``flexbridge_orders_open``, and looks the due ones up at Flex (the decisions:
consumers/reconcile.py), at most ``…__MAX_PER_SECOND`` a second. A changed state is published on
``orders.status`` with ``source: "reconcile"``, and so folded into the table like every status; an
unchanged one publishes nothing. ``flexbridge reconcile --execute`` runs the same pass
(:class:`Reconciler`) over the orders it read from ``orders.status``.

Each order is looked up as its merchant (DESIGN.md §2.9: ``OrderState.mid``, or the one merchant
served; :func:`lookups_by_merchant`): Flex shows a merchant only its own orders. An order whose
merchant is not served (several are, and its mid is none of theirs) is not asked about
(``unknown-merchant``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import faust
import orjson
from aiokafka.errors import KafkaError

from consumers.flex.client import FlexClient
from consumers.flex.errors import FlexError, FlexNotFound
from consumers.reconcile import (
    Candidate,
    OrderLookup,
    RateLimiter,
    Schedule,
    flex_status,
    look_up,
    open_counts,
    reconcile_status,
    stored_candidate,
    stored_last_news,
)
from consumers.retry import RetryPolicy
from core.merchants import Merchants
from core.settings import ReconcileSettings, Settings
from schemas.status import OrderStatus, Status
from streams.kafka.bulk import partition_for
from streams.runtime.metrics import Metrics
from streams.runtime.orders import Expired, OrderBook
from streams.runtime.services import BridgeRuntime
from streams.runtime.status import StatusPublisher

__all__ = [
    "Lookup",
    "LookupFor",
    "OwnedOrders",
    "Reconciler",
    "add_reconciler",
    "lookups_by_merchant",
    "owned_orders",
    "partition_of",
]

log = logging.getLogger(__name__)


# The client that looks an order up as the merchant of its ``mid`` (None: no merchant served).
LookupFor = Callable[[str | None], OrderLookup | None]


def lookups_by_merchant(flex: FlexClient, merchants: Merchants) -> LookupFor:
    """Look each order up as its merchant (``OrderState.mid``; the one merchant when one is served)."""

    def lookup_for(mid: str | None) -> OrderLookup | None:
        merchant = merchants.for_event(mid)
        return None if merchant is None else flex.for_merchant(merchant)

    return lookup_for


@dataclass(frozen=True, slots=True)
class Lookup:
    """One lookup: ``result`` is changed, unchanged, unmapped, not-found, failed or unknown-merchant."""

    order: Candidate
    result: str
    flex_status: Status | None = None
    published: OrderStatus | None = None


class Reconciler:
    """Decides and looks up; the schedule (per-order backoff) and the rate limit live across passes."""

    def __init__(
        self,
        settings: ReconcileSettings,
        mit_expiry_days: int,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        backoff = RetryPolicy(
            settings.interval_seconds, max(settings.backoff_max_seconds, settings.interval_seconds)
        )
        window = timedelta(days=mit_expiry_days)
        self.schedule = Schedule(settings.after_seconds, backoff, window, settings.grace_seconds)
        self.limiter = RateLimiter(settings.max_per_second)
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        # order key → (its status then, the status published): the table folds a published change a
        # moment later, and until it does a lookup must not publish the same change again
        self._sent: dict[str, tuple[Status | None, Status]] = {}

    async def run_pass(
        self,
        candidates: Iterable[Candidate],
        flex: OrderLookup | LookupFor,
        publisher: StatusPublisher,
        on_lookup: Callable[[Lookup], None] | None = None,
    ) -> list[Lookup]:
        """Refresh the open-order gauges, then look up every due order, rate-limited; ``candidates``:
        the orders that may be looked up (:func:`consumers.reconcile.candidate`); ``flex``: one
        client for every order, or the client of each order's merchant (:func:`lookups_by_merchant`);
        ``on_lookup`` is told of each lookup as it ends (``flexbridge reconcile`` prints it)."""
        candidates = list(candidates)
        now = self._clock()
        if self._metrics is not None:
            self._metrics.set_open(open_counts(candidates, now))
        still = {c.key: c.status for c in candidates}
        self._sent = {o: sent for o, sent in self._sent.items() if o in still and still[o] == sent[0]}
        lookups = []
        for order in self.schedule.due(candidates, now):
            client = flex(order.mid) if callable(flex) else flex
            if client is None:
                lookup = self._unknown_merchant(order, order.mid)
            else:
                await self._sleep(self.limiter.wait(self._clock()))
                lookup = await self._reconcile(order, client, publisher)
            lookups.append(lookup)
            if on_lookup is not None:
                on_lookup(lookup)
        return lookups

    def _unknown_merchant(self, order: Candidate, mid: str | None) -> Lookup:
        log.warning("order %s: its merchant (mid %s) is not served; not looked up", order.order_id, mid)
        self.schedule.looked_up(order.key, self._clock(), None)
        if self._metrics is not None:
            self._metrics.reconcile_lookup("unknown-merchant")
        return Lookup(order, "unknown-merchant")

    async def _reconcile(self, order: Candidate, flex: OrderLookup, publisher: StatusPublisher) -> Lookup:
        lookup, expiry = Lookup(order, "not-found"), None
        try:
            answer = await look_up(flex, order)
        except FlexNotFound:
            answer = None
        except FlexError as exc:
            log.warning("order %s: Flex lookup failed (%s); asked again later", order.order_id, exc)
            answer, lookup = None, Lookup(order, "failed")
        if answer is not None:
            expiry, status = answer.expiry_date, flex_status(answer, self._clock())
            published = None if status is None else reconcile_status(order, answer, status)
            if published is not None and self._sent.get(order.key) == (order.status, published.status):
                published = None  # sent already; the order table has not folded it yet
            result = "unmapped" if status is None else "changed" if published else "unchanged"
            lookup = Lookup(order, result, status, published)
            if published is not None:
                await publisher.publish(published)
                self._sent[order.key] = (order.status, published.status)
                log.info("order %s: %s → %s (reconcile)", order.order_id, order.status, status)
        self.schedule.looked_up(order.key, self._clock(), expiry)
        if self._metrics is not None:
            self._metrics.reconcile_lookup(lookup.result)
        return lookup


def partition_of(order_id: str, partitions: int) -> int:
    """The partition of an order's statuses (and table entry): the producers' murmur2 of its id."""
    return partition_for(order_id.encode(), partitions)


@dataclass(frozen=True, slots=True)
class OwnedOrders:
    """What a pass read of the orders this worker owns."""

    candidates: list[Candidate]  # the orders it may look up (consumers.reconcile.stored_candidate)
    expired: list[Expired]  # final orders without news since the retention's cutoff


async def owned_orders(
    app: faust.App, book: OrderBook, topic: str, partitions: int, cutoff: float | None = None
) -> OwnedOrders:
    """The orders of the table partitions this worker holds as active (not as standby): an entry is
    in its orderId's partition, whatever its key (``mid/orderId`` with several merchants). ``cutoff``
    (seconds since the epoch; None: none): a final order whose last news is older is expired.

    Every order of the table is read, so this is the pass's cost: each is decoded with orjson and
    no model is built (27 µs an order before, validating every one as an ``OrderState`` in one
    stretch: 0.55 s of the worker's loop for 20,000 orders, every pass), and the loop gets a turn
    every :data:`_SCAN_CHUNK` orders."""
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
    candidates, expired = [], []
    for n, (key, raw) in enumerate(list(book.table.items()), 1):
        if n % _SCAN_CHUNK == 0:
            await asyncio.sleep(0)
        order_id = book.order_id_of(key.decode() if isinstance(key, bytes) else str(key))
        partition = partition_of(order_id, partitions)
        if raw is None or partition not in owned:
            continue
        try:
            doc = orjson.loads(raw)
            found = stored_candidate(doc)
            if found is not None:
                candidates.append(found)
            elif cutoff is not None and stored_last_news(doc) < cutoff:
                expired.append(Expired(key, order_id, raw, partition))
        except ValueError:  # orjson's decode error is one too
            log.warning("order %s: table value is not an OrderState; not reconciled", order_id)
    return OwnedOrders(candidates, expired)


_SCAN_CHUNK = 500  # orders read between two turns of the loop: a few milliseconds


def add_reconciler(app: faust.App, settings: Settings, runtime: BridgeRuntime, book: OrderBook) -> Reconciler:
    """A timer on every worker: a reconcile pass over its own orders each interval, which also
    forgets the final orders past ``FLEXBRIDGE_ORDERS__RETENTION_DAYS`` (:meth:`OrderBook.forget`)."""
    reconciler = Reconciler(settings.reconcile, settings.pipeline.mit_expiry_days, runtime.metrics)
    topic, partitions = settings.topics.status, settings.kafka.topic_partitions
    retention = settings.orders.retention_seconds

    async def reconcile() -> None:
        if app.rebalancing or app.in_recovery:
            return  # the table is being rebuilt: an order may look older than it is
        producer, flex = await runtime.clients()
        cutoff = None if retention is None else time.time() - retention
        owned = await owned_orders(app, book, topic, partitions, cutoff)
        if app.rebalancing or app.in_recovery:
            return  # began while reading: the partitions read may be another worker's now
        if owned.expired:
            runtime.metrics.orders_forgotten.inc(book.forget(owned.expired))
        lookup_for = lookups_by_merchant(flex, runtime.merchants())
        try:
            await reconciler.run_pass(owned.candidates, lookup_for, StatusPublisher(producer, topic))
        except KafkaError as exc:
            log.warning("reconcile pass stopped: a status could not be published (%s)", exc)

    timer: Any = app.timer(interval=settings.reconcile.interval_seconds, name="flexbridge-reconcile")
    timer(reconcile)
    return reconciler
