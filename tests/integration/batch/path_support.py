"""The batch path alone on the real broker and the sandbox's SFTP server (both over TCP/SSH, the
sandbox from the ``sftp_sandbox`` fixture, conftest.py): settings for a test's own topics and group,
one worker's batch path in this process, and the waits the batch tests share."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiokafka import AIOKafkaProducer

from consumers.flex.client import FlexClient
from consumers.sftp.client import SftpClient
from core.settings import Settings
from sandbox import DEV_APP_KEY, DEV_APP_SECRET, DEV_MID, RunningSandbox
from streams.kafka.topics import all_topics, ensure_topics
from streams.local.broker import EmbeddedBroker
from streams.local.traffic import make_event
from streams.runtime.awaiting import AwaitingResults
from streams.runtime.batch.path import BatchPath
from streams.runtime.deps import Deps
from streams.runtime.metrics import Metrics
from tests.support import produce, read_all, unique, values, wait_for


def settings_for(broker: EmbeddedBroker, sandbox: RunningSandbox, **batch: Any) -> Settings:
    assert sandbox.sftp is not None
    server, tag = sandbox.sftp.server, unique("b")
    topics = {
        n: f"{tag}.{n}"
        for n in ("approved", "declined", "commands", "status", "webhooks", "dlq", "ledger", "batches")
    }
    return Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": broker.bootstrap, "group_id": tag, "enable_idempotence": False}
            | {"topic_partitions": 2, "session_timeout_ms": 3000, "rebalance_timeout_ms": 3000}
            | {"heartbeat_interval_ms": 300},
            "topics": topics,
            "flex": {
                "base_url": sandbox.url,
                "app_key": DEV_APP_KEY,
                "app_secret": DEV_APP_SECRET,
                "mid": DEV_MID,
            },
            "sftp": {"port": server.port, "key_path": server.client_key, "known_hosts": server.known_hosts}
            | {"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2},
            "batch": {"poll_interval_seconds": 0.2, "min_age_seconds": 0, "max_age_seconds": 1.0}
            | {"drain_timeout_seconds": 1.5}  # a drain fits the 3 s rebalance (core/settings.py)
            | batch,
            "pipeline": {"commit_interval_seconds": 0.2, "drain_timeout_seconds": 1.5},
        }
    )


class Running:
    """One worker's batch path (consumer, uploader, poller) in this process."""

    def __init__(self, settings: Settings, awaiting: AwaitingResults | None = None) -> None:
        self.settings = settings
        self.awaiting = awaiting  # the webhook receiver's held orders, when the worker runs one
        self.producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, linger_ms=2)
        self.flex = FlexClient(settings.flex)
        self.path: BatchPath | None = None

    async def __aenter__(self) -> BatchPath:
        s = self.settings
        await ensure_topics(s.kafka, all_topics(s.topics))
        await self.producer.start()
        deps = Deps.build(s, self.producer, Metrics())
        self.path = BatchPath(
            deps,
            batch=s.batch,
            sftp=s.sftp,
            pipeline=s.pipeline,
            token=lambda _m: self.flex.ensure_token(),
            awaiting=self.awaiting,
        )
        await self.path.start()
        return self.path

    async def __aexit__(self, *exc: object) -> None:
        if self.path is not None:
            await self.path.stop()
        await self.producer.stop()
        await self.flex.aclose()


def mit(order_id: str) -> dict[str, Any]:
    event = make_event("mit-rebill", order_id, random.Random(order_id))
    assert isinstance(event, dict)
    return event


async def publish_mit(settings: Settings, order_ids: list[str], partition_key: str | None = None) -> None:
    items: list[tuple[str | None, Any]] = [(partition_key or o, mit(o)) for o in order_ids]
    await produce(settings.kafka.bootstrap_servers, settings.topics.declined, items)


async def statuses(settings: Settings) -> list[dict[str, Any]]:
    return values(await read_all(settings.kafka.bootstrap_servers, settings.topics.status))


async def until_statuses(
    settings: Settings, status: str, count: int, timeout: float = 20
) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        found = [s for s in await statuses(settings) if s["status"] == status]
        return found if len(found) >= count else None

    return await wait_for(enough, timeout, f"{count} {status} statuses", every=0.2)


def log_of(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    assert sandbox.sftp is not None
    return sandbox.sftp.log


async def until_joined(path: BatchPath, what: str) -> None:
    async def joined() -> bool:
        return path.consumer.joined.is_set()

    await wait_for(joined, 30, f"{what} to join")


def stop_at_rename(path: BatchPath, *, renamed: bool) -> asyncio.Event:
    """The worker's upload of its data file stops for good just before (``renamed=False``) or just
    after its rename, as if the worker died there; its result poller is not running (it died)."""
    client: SftpClient = path.sftp.client(path.merchants[0])
    rename, stuck = client.rename_temp, asyncio.Event()

    async def rename_then_stop(directory: str, name: str, temp: str) -> bool:
        if not name.endswith(".json"):  # the manifest
            return await rename(directory, name, temp)
        if renamed:
            await rename(directory, name, temp)
        stuck.set()
        await asyncio.Event().wait()
        raise AssertionError("never resumed")

    client.rename_temp = rename_then_stop  # type: ignore[method-assign]
    return stuck


async def first_life(settings: Any, orders: list[str], *, renamed: bool) -> None:
    async with Running(settings) as path:
        await path.poller.stop()
        stuck = stop_at_rename(path, renamed=renamed)
        await publish_mit(settings, orders, partition_key="Z")
        await asyncio.wait_for(stuck.wait(), 30)
