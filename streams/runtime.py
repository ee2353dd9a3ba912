"""Everything one worker runs besides Faust: producer, Flex client, ledger and the keyed pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer

from consumers.flex import FlexClient
from schemas.errors import FlexbridgeError
from schemas.settings import Settings
from streams.bridge import Bridge
from streams.kafka import client_options, make_producer
from streams.ledger import Ledger
from streams.metrics import Metrics
from streams.pipeline import KeyedPipeline
from streams.topics import ensure_topics

__all__ = ["BridgeRuntime"]

log = logging.getLogger(__name__)


class BridgeRuntime:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.producer = make_producer(settings.kafka)
        self.flex = FlexClient(
            settings.flex, on_call=self.metrics.flex_call, on_retry=self.metrics.flex_retry
        )
        self.ledger = Ledger(settings, self.producer)
        self.bridge = Bridge(settings, self.flex, self.producer, self.ledger, self.metrics)
        k = settings.kafka
        consumer = AIOKafkaConsumer(
            **client_options(k),
            group_id=k.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=k.session_timeout_ms,
            heartbeat_interval_ms=k.heartbeat_interval_ms,
            rebalance_timeout_ms=k.rebalance_timeout_ms,
            max_poll_records=settings.pipeline.fetch_max_records,
        )
        p = settings.pipeline
        self.pipeline = KeyedPipeline(
            consumer,
            [settings.topics.approved, settings.topics.declined],
            self.bridge.handle,
            max_in_flight=p.max_in_flight,
            max_records=p.fetch_max_records,
            commit_interval=p.commit_interval_seconds,
            on_assign=self.ledger.load,
        )
        self.token_ready = asyncio.Event()
        self._warmup: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_topics(self.settings)
        await self.producer.start()
        self._warmup = asyncio.create_task(self._warm_token(), name="flex-token")
        await self.pipeline.start()

    async def stop(self) -> None:
        if self._warmup is not None:
            self._warmup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warmup
        await self.pipeline.stop()
        await self.producer.stop()
        await self.flex.aclose()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        checks = {"joined": self.pipeline.joined.is_set(), "flex_token": self.token_ready.is_set()}
        ready = all(checks.values())
        self.metrics.ready.set(1 if ready else 0)
        self.metrics.in_flight.set(self.pipeline.in_flight)
        return ready, {**checks, **self.pipeline.stats(), "ledger_entries": len(self.ledger)}

    async def _warm_token(self) -> None:
        """Fetch the first Flex token so /ready means the Flex client can call; retry until it can."""
        delay = 1.0
        while True:
            try:
                await self.flex.ensure_token()
                self.token_ready.set()
                return
            except FlexbridgeError as exc:
                log.error("cannot get a Flex token yet (%s); retrying in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
