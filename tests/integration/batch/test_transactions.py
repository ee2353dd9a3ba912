"""MIT declines an upstream processor wrote in Kafka transactions (a librdkafka transactional
producer, as Kafka Streams, Flink and exactly-once outbox relays write), on the real broker and the
sandbox's SFTP server: the batch path files them, and its commit passes each transaction's commit
marker (an offset of its own, after the transaction's last record), so a quiet partition shows no
lag, in records or in seconds, and FlexbridgeBatchFallingBehind stays quiet."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from streams.runtime.batch.path import BatchPath
from tests.integration.batch.path_support import Running, log_of, mit, settings_for, until_statuses
from tests.support import in_transactions, wait_for

pytestmark = pytest.mark.integration


def gauge(path: BatchPath, name: str) -> dict[str, float]:
    """A batch lag gauge by partition, as /metrics shows it (``stats`` refreshes it)."""
    metric = getattr(path.metrics, name)
    return {s.labels["partition"]: s.value for m in metric.collect() for s in m.samples}


async def test_the_commit_passes_each_transactions_marker(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox
) -> None:
    settings = settings_for(broker, sftp_sandbox, max_records=4)
    orders = [f"X-{i}" for i in range(8)]
    async with Running(settings) as path:
        items: list[tuple[str, Any]] = [("X", mit(o)) for o in orders]  # one partition
        await asyncio.to_thread(in_transactions, broker.bootstrap, settings.topics.declined, items, 4)
        await until_statuses(settings, "SUBMITTED", 8)

        async def quiet() -> bool:
            path.stats()  # refreshes the gauges, as /metrics does
            lag, waited = gauge(path, "batch_consumer_lag"), gauge(path, "batch_consumer_lag_seconds")
            return len(lag) == len(waited) == 2 and set(lag.values()) == set(waited.values()) == {0.0}

        await wait_for(quiet, 20, "no lag on either partition, in records or in seconds")
        consumer = path.consumer._consumer
        assert consumer is not None
        ends = {
            p.tp.partition: (p.committed, consumer.highwater(p.tp)) for p in path.consumer._parts.values()
        }
        # 8 records and 2 commit markers in one partition: its commit is at its end, past the last
        # marker; the other has none
        assert sorted(ends.values()) == [(0, 0), (10, 10)]
    assert [(e["records"], e["accepted"]) for e in log_of(sftp_sandbox)] == [(4, 4), (4, 4)]
    assert sorted(o.order_id for o in sftp_sandbox.state.orders.all()) == orders
