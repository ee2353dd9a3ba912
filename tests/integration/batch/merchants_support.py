"""The batch path with the three-merchant sandbox (real broker, real SFTP): its settings, and a
running sandbox with topics and a producer from which a test builds one or more batch paths."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer

from core.merchants import Merchant
from core.settings import Settings
from sandbox import RunningSandbox
from streams.kafka.topics import all_topics, ensure_topics
from streams.local.broker import EmbeddedBroker
from streams.runtime.batch.path import BatchPath
from streams.runtime.deps import Deps
from streams.runtime.metrics import Metrics
from tests.sandbox.merchants_support import MERCHANTS, merchants_sandbox, token_for
from tests.support import unique

__all__ = ["SPECS", "MerchantsBatch", "merchants_batch", "settings_for"]

SPECS = {m.name: m for m in MERCHANTS}


def settings_for(broker: EmbeddedBroker, sandbox: RunningSandbox, merchants_file: Path) -> Settings:
    """Topics and group of their own; small, quick files (3 records or 1 s) and polls."""
    assert sandbox.sftp is not None
    server, tag = sandbox.sftp.server, unique("m")
    names = ("approved", "declined", "commands", "status", "webhooks", "dlq", "ledger", "batches")
    return Settings.model_validate(
        {
            "merchants_file": merchants_file,
            "kafka": {"bootstrap_servers": broker.bootstrap, "group_id": tag, "enable_idempotence": False}
            | {"topic_partitions": 2, "session_timeout_ms": 3000, "rebalance_timeout_ms": 3000}
            | {"heartbeat_interval_ms": 300},
            "topics": {n: f"{tag}.{n}" for n in names},
            "flex": {"base_url": sandbox.url},
            "sftp": {"port": server.port, "known_hosts": server.known_hosts}
            | {"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2},
            "batch": {"poll_interval_seconds": 0.2, "min_age_seconds": 0, "max_age_seconds": 1.0}
            | {"max_records": 3, "drain_timeout_seconds": 1.5},  # within the 3 s rebalance
            "pipeline": {"commit_interval_seconds": 0.2, "drain_timeout_seconds": 1.5},
        }
    )


@dataclass(frozen=True)
class MerchantsBatch:
    sandbox: RunningSandbox
    settings: Settings
    producer: AIOKafkaProducer

    async def token(self, merchant: Merchant) -> str:
        return await token_for(self.sandbox, SPECS[merchant.name])

    def path(self, settings: Settings | None = None) -> BatchPath:
        """A batch path (not started) over ``settings``, by default the stack's."""
        settings = settings or self.settings
        deps = Deps.build(settings, self.producer, Metrics())
        return BatchPath(
            deps, batch=settings.batch, sftp=settings.sftp, pipeline=settings.pipeline, token=self.token
        )


@asynccontextmanager
async def merchants_batch(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[MerchantsBatch]:
    """The three-merchant sandbox with SFTP, the topics of ``settings_for`` and a started producer."""
    async with merchants_sandbox(tmp_path, sftp_settle_seconds=0.2) as sandbox:
        settings = settings_for(broker, sandbox, tmp_path / "merchants.toml")
        await ensure_topics(settings.kafka, all_topics(settings.topics))
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, linger_ms=2)
        await producer.start()
        try:
            yield MerchantsBatch(sandbox, settings, producer)
        finally:
            await producer.stop()
