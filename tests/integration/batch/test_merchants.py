"""The batch path with three merchants on the real broker and the sandbox in multi-merchant mode
(real SFTP): interleaved MIT declines of the three on the same partition become files of one
merchant each, uploaded through that merchant's SFTP account with its mid and token."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from core.merchants import Merchant
from core.settings import Settings
from sandbox import RunningSandbox
from streams.kafka.topics import all_topics, ensure_topics
from streams.local.broker import EmbeddedBroker
from streams.local.traffic import make_event
from streams.runtime.batch.path import BatchPath
from streams.runtime.deps import Deps
from streams.runtime.metrics import Metrics
from tests.integration.batch.test_path import until_joined, until_statuses
from tests.sandbox.merchants_support import MERCHANTS, merchants_sandbox, token_for
from tests.support import produce, unique

pytestmark = pytest.mark.integration

SPECS = {m.name: m for m in MERCHANTS}


def settings_for(broker: EmbeddedBroker, sandbox: RunningSandbox, merchants_file: Path) -> Settings:
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
            | {"max_records": 3},
            "pipeline": {"commit_interval_seconds": 0.2},
        }
    )


def mit(order_id: str, mid: str) -> dict[str, Any]:
    event = make_event("mit-rebill", order_id, random.Random(order_id))
    assert isinstance(event, dict)
    return {**event, "mid": mid}


async def test_interleaved_merchants_get_files_of_their_own_in_their_own_folders(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with merchants_sandbox(tmp_path, sftp_settle_seconds=0.2) as sandbox:
        settings = settings_for(broker, sandbox, tmp_path / "merchants.toml")
        await ensure_topics(settings.kafka, all_topics(settings.topics))
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, linger_ms=2)
        await producer.start()

        async def token(merchant: Merchant) -> str:
            return await token_for(sandbox, SPECS[merchant.name])

        deps = Deps.build(settings, producer, Metrics())
        path = BatchPath(
            deps, batch=settings.batch, sftp=settings.sftp, pipeline=settings.pipeline, token=token
        )
        orders = [(f"{m.name}-{i}", m) for i in range(4) for m in MERCHANTS]  # a, b, c, a, b, c …
        try:
            await path.start()
            await until_joined(path, "the batch consumer")
            items = [("K", mit(order_id, m.mid)) for order_id, m in orders]  # one key: one partition
            await produce(settings.kafka.bootstrap_servers, settings.topics.declined, items)
            submitted = await until_statuses(settings, "SUBMITTED", len(orders), timeout=40)
        finally:
            await path.stop()
            await producer.stop()
        assert sorted(s["orderId"] for s in submitted) == sorted(o for o, _ in orders)
        assert sandbox.sftp is not None
        files = sandbox.sftp.log
        assert files and all(f["error"] is None and f["accepted"] == f["records"] for f in files)
        for f in files:  # each file in its own merchant's account, named after it
            assert f["user"] == f"{f['merchant']}-sftp" and f["file"].endswith(f"_{f['merchant']}.json")
        assert Counter(f["merchant"] for f in files) == Counter({"acme": 2, "bolt": 2, "cora": 2})
        mids = {m.name: m.mid for m in MERCHANTS}
        for order in sandbox.state.orders.all():  # each order reached Flex under its merchant's mid
            assert order.mid == mids[order.order_id.split("-")[0]]
        for spec in MERCHANTS:
            user = sandbox.sftp.server.users[f"{spec.name}-sftp"]
            landed = [p.name for p in user.root.rglob("*.json")]
            assert landed and all(name.endswith(f"_{spec.name}.json") for name in landed)
        assert path.sftp.open_sessions == 0  # closed at stop
