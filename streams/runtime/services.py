"""Everything one worker runs besides Faust, and where it is wired: producer, Flex client, ledger,
the keyed pipeline, the webhook receiver and the batch path. Components get the dependency bundle
(streams/runtime/deps.py) and their own settings section, never the whole settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer

from consumers.flex.client import FlexClient
from consumers.flex.slots import MERCHANT_SHARE, MerchantSlots
from consumers.retry import RetryPolicy, retry
from consumers.webhooks.keys import WebhookKeys
from core.errors import FlexbridgeError
from core.merchants import Merchants
from core.settings import Settings
from streams.kafka.clients import make_consumer, make_producer
from streams.kafka.membership import keep_membership_on_close
from streams.kafka.topics import all_topics, ensure_topics
from streams.runtime.awaiting import AwaitingFollower
from streams.runtime.bridge import Bridge
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger
from streams.runtime.loop_lag import probe_lag
from streams.runtime.metrics import Metrics
from streams.runtime.pipeline import KeyedPipeline
from streams.runtime.supervise import count_failures, supervise
from streams.runtime.undecodable import Held
from streams.runtime.webhooks import WebhookAnswer, WebhookReceiver, build_verifier

if TYPE_CHECKING:
    from streams.runtime.batch.path import BatchPath

__all__ = ["BridgeRuntime"]

log = logging.getLogger(__name__)
_TOKEN_RETRY = RetryPolicy(base_seconds=1.0, max_seconds=30.0)
_REFUSED_AGAIN_SECONDS = 30.0


class BridgeRuntime:
    """Built in :meth:`start`, inside the running loop, as aiokafka requires."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        if not settings.kafka.leave_group_on_close:
            keep_membership_on_close()  # every consumer of the process, Faust's included
        self.token_ready = asyncio.Event()
        self._parts: _Parts | None = None
        self._background: list[asyncio.Task[None]] = []  # the token warm-up, the event loop's lag probe
        self.batches: BatchPath | None = None  # the SFTP batch path, when something is routed to sftp
        self._verifier = build_verifier(settings.webhook)  # a bad subscriber key stops the worker here
        self.webhooks: WebhookReceiver | None = None
        self.started = asyncio.Event()  # set once the producer and the Flex client exist
        self.held_elsewhere: list[Callable[[], list[Held]]] = []  # e.g. Faust's agents (faust_fixes.py)
        self._starting: asyncio.Future[None] | None = None
        self._uncount: Callable[[], None] | None = None  # stops counting the tasks' failures

    def begin(self) -> asyncio.Future[None]:
        """:meth:`start` in the background, begun once: the launch (launch.py) begins it before Faust
        is imported, and Faust's start then waits for it."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        return self._starting

    async def start(self) -> None:
        await self.begin()

    async def _start(self) -> None:
        """The parts start side by side: the consumers' group joins (seconds on a new group: the
        broker waits for more members) overlap the followers' read-back and each other."""
        self._uncount = self._uncount or count_failures(self.metrics.task_failed)
        parts = self._parts = _Parts(self.settings, self.metrics, self.token_ready)
        await asyncio.gather(
            ensure_topics(self.settings.kafka, all_topics(self.settings.topics)), parts.producer.start()
        )
        self.started.set()
        self._background = [
            supervise("flex-token", lambda: self._warm_token(parts)),
            supervise("event-loop-lag", lambda: probe_lag(self.metrics.event_loop_lag.observe)),
        ]
        keys = WebhookKeys.build(self.settings.webhook, parts.deps.merchants, verifier=self._verifier)
        if keys:  # the keys of FLEXBRIDGE_WEBHOOK__* and/or of the merchants
            self.webhooks = WebhookReceiver(parts.deps, self.settings.webhook, keys, parts.follower)
        else:
            log.warning("FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY is not set: POST /webhooks/flex answers 503")
        merchants = parts.deps.merchants
        if merchants is not None and any(m.sftp_routes for m in merchants):
            from streams.runtime.batch.path import BatchPath  # asyncssh: only when something goes by SFTP

            s, flex = self.settings, parts.flex
            self.batches = BatchPath(
                parts.deps,
                batch=s.batch,
                sftp=s.sftp,
                pipeline=s.pipeline,
                token=lambda merchant: flex.for_merchant(merchant).ensure_token(),
                awaiting=parts.follower.results,
                ledger=parts.ledger,
            )
        parts.follower.start()
        starts = [parts.pipeline.start(), parts.ledger.start()]
        starts += [self.webhooks.start()] if self.webhooks is not None else []
        starts += [self.batches.start()] if self.batches is not None else []
        await asyncio.gather(*starts)

    async def stop(self) -> None:
        starting, self._starting = self._starting, None
        if starting is not None and not starting.done():  # stopped while still starting
            starting.cancel()
            await asyncio.wait([starting])
        background, self._background = self._background, []
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        webhooks, self.webhooks = self.webhooks, None
        if webhooks is not None:
            await webhooks.stop()
        batches, self.batches = self.batches, None
        parts, self._parts = self._parts, None
        self.started.clear()
        # The two consumers drain at once: one after the other, a stop could outlast a deploy's grace.
        pipeline = parts.pipeline if parts is not None else None
        await asyncio.gather(*(c.stop() for c in (batches, pipeline) if c is not None))
        if parts is not None:
            await parts.follower.stop()
            await parts.producer.stop()
            await parts.flex.aclose()
        uncount, self._uncount = self._uncount, None
        if uncount is not None:
            uncount()

    async def clients(self) -> tuple[AIOKafkaProducer, FlexClient]:
        """The producer and Flex client, once started (Faust agents may start before the runtime)."""
        await self.started.wait()
        if self._parts is None:
            raise RuntimeError("the bridge runtime has stopped")
        return self._parts.producer, self._parts.flex

    def merchants(self) -> Merchants:
        """The merchants served (DESIGN.md §2.9), once started."""
        if self._parts is None:
            raise RuntimeError("the bridge runtime has not started")
        return self._parts.deps.served()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        parts = self._parts
        joined = parts is not None and parts.pipeline.joined.is_set()
        checks: dict[str, Any] = {"joined": joined, "flex_token": self.token_ready.is_set()}
        held = self.held()  # partitions stuck at a batch that cannot be decoded, until an operator acts
        self.metrics.partitions_held.set(len(held))
        if held:
            checks["undecodable"] = [h.view() for h in held]
        ready = joined and self.token_ready.is_set() and not held
        self.metrics.ready.set(1 if ready else 0)
        if parts is not None:
            self.metrics.in_flight.set(parts.pipeline.in_flight)
            self.metrics.set_lag(self.metrics.consumer_lag, parts.pipeline.lag())
            entries = len(parts.ledger)
            self.metrics.ledger_entries.set(entries)
            checks.update(parts.pipeline.stats(), ledger_entries=entries, routing_digest=parts.routing_digest)
        if self.batches is not None:
            checks["batch"] = self.batches.stats()
        if self.webhooks is not None:
            checks["webhook_dedupe_keys"] = self.webhooks.remembered
        return ready, {"ready": ready, **checks}

    def held(self) -> list[Held]:
        """Input partitions paused at a record batch that cannot be decoded."""
        held = self._parts.pipeline.fetch.held() if self._parts is not None else []
        fetch = self.batches.consumer.fetch if self.batches is not None else None
        held += fetch.held() if fetch is not None else []
        return held + [h for source in self.held_elsewhere for h in source()]

    async def receive_webhook(
        self, method: str, host: str, headers: Mapping[str, str], body: bytes, merchant: str | None = None
    ) -> WebhookAnswer:
        """``POST /webhooks/flex`` (``/{merchant}``): 503 while the receiver is off or not started."""
        if self.webhooks is None:
            self.metrics.webhook_delivery("unavailable")
            message = "webhook receiver not running (is FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY set?)"
            return WebhookAnswer(503, {"status": "unavailable", "error": message})
        return await self.webhooks.receive(method, host, headers, body, merchant)

    async def _warm_token(self, parts: _Parts) -> None:
        """Fetch the first Flex token so /ready means the Flex client can call; retry while Flex is
        unavailable. With several merchants, the first whose token comes is enough (the others'
        come on their first event). Until one comes the worker is not ready and its real-time
        pipeline reads nothing (it would dead-letter every event ``flex-auth``): refused credentials
        are asked again every ``_REFUSED_AGAIN_SECONDS``, for a fix on Flex's side."""
        while True:
            for merchant in parts.deps.served():
                flex = parts.flex.for_merchant(merchant)
                try:
                    await retry(
                        flex.ensure_token, _TOKEN_RETRY, what="Flex token", log=log, level=logging.ERROR
                    )
                except FlexbridgeError as exc:
                    log.error("cannot get a Flex token for merchant %s (%s)", merchant.name, exc)
                    continue
                self.token_ready.set()
                return
            log.error(
                "no Flex token could be fetched: the worker stays not ready and reads no payment event; "
                "asking again in %.0f s",
                _REFUSED_AGAIN_SECONDS,
            )
            await asyncio.sleep(_REFUSED_AGAIN_SECONDS)


class _Parts:
    """The clients, the dependency bundle and the pipeline of one running worker."""

    def __init__(self, settings: Settings, metrics: Metrics, token_ready: asyncio.Event) -> None:
        k, p = settings.kafka, settings.pipeline
        self.producer = make_producer(k)
        self.deps = Deps.build(settings, self.producer, metrics)
        merchants = self.deps.served()
        self.routing_digest = merchants.routing_digest()  # the same in every worker once a roll ends
        metrics.routing_info.labels(self.routing_digest).set(1)
        for merchant in merchants:
            metrics.add_merchant(merchant.name)
            if merchant.routing.since is not None:  # a change made by a roll (docs/processors.md)
                log.info("merchant %s routes %s", merchant.name, merchant.routing.describe())
        self.flex = FlexClient(settings.flex, observers_for=metrics.flex_observers)
        self.ledger = Ledger(k, settings.topics.ledger, self.producer)
        # orders.status, followed: the orders awaiting a batch result, each order's latest status
        self.follower = AwaitingFollower(k, settings.topics.status, self.producer)
        # one merchant may fill a share of the slots when several are served (consumers/flex/slots.py)
        slots = MerchantSlots(p.max_in_flight, MERCHANT_SHARE if len(merchants) > 1 else 1.0)
        bridge = Bridge(self.deps, self.flex, self.ledger, slots, latest=self.follower.latest)
        consumer = make_consumer(k, group_id=k.group_id, max_poll_records=p.fetch_max_records)
        self.pipeline = KeyedPipeline(
            consumer,
            [settings.topics.approved, settings.topics.declined],
            bridge.handle,
            max_in_flight=p.max_in_flight,
            max_records=p.fetch_max_records,
            commit_interval=p.commit_interval_seconds,
            drain_timeout=p.drain_timeout_seconds,
            on_assign=self.ledger.load,
            on_held=metrics.undecodable_batch,
            skip=bridge.to_batch,
            on_skipped=bridge.count_to_batch,
            gate=token_ready,  # no event is read before a Flex token: it could only be dead-lettered
        )
        slots.lend = self.pipeline.lend_slot
