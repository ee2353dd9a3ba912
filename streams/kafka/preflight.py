"""Start-up probes of the broker: is it there, does it take the idempotent producer, and do the
order topics have the order table's partitions. A refusal becomes a message naming the setting to
change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import BrokerResponseError, KafkaError, UnsupportedVersionError

from core.config import ConfigError
from core.settings import KafkaSettings, TopicSettings
from streams.kafka.clients import client_options, make_producer
from streams.kafka.topics import partition_counts

__all__ = ["order_topics_mismatch", "probe_idempotence", "probe_order_topics", "wait_for_broker"]

_PARTITIONS = "FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS"


async def probe_idempotence(k: KafkaSettings) -> None:
    """With idempotence on, start one idempotent producer: a broker that refuses InitProducerId
    (the embedded broker does; so do old or locked-down clusters) stops the worker with a message
    naming ``FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE`` instead of aiokafka's bare ``UnknownError()``."""
    if not k.enable_idempotence:
        return
    producer = make_producer(k)
    try:
        await producer.start()
    except (BrokerResponseError, UnsupportedVersionError) as exc:
        raise ConfigError(
            f"the broker at {k.bootstrap_servers} refused the idempotent producer "
            f"(InitProducerId answered {type(exc).__name__}); turn it off with "
            "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE=false, or grant IdempotentWrite on the cluster"
        ) from None
    finally:
        await producer.stop()


async def probe_order_topics(k: KafkaSettings, topics: TopicSettings) -> None:
    """Stop the worker with a message naming ``FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS`` when an existing
    order topic has another partition count than the order table (:func:`order_topics_mismatch`)."""
    names = [topics.status, topics.commands]
    admin = AIOKafkaAdminClient(**client_options(k))
    await admin.start()
    try:
        counts = await partition_counts(admin, names, set(await admin.list_topics()))
    finally:
        await admin.close()
    problem = order_topics_mismatch(counts, names, k.topic_partitions)
    if problem is not None:
        raise ConfigError(problem)


def order_topics_mismatch(counts: dict[str, int], names: list[str], partitions: int) -> str | None:
    """Why the order topics ``names`` (``orders.status``, ``orders.commands``), with their partition
    ``counts`` (a missing topic is made with ``partitions``), cannot run with an order table of
    ``partitions``, or None. The table has a partition for each partition of ``orders.status``, and
    a worker finds an order only in the table partitions it holds: those of the same number as its
    ``orders.commands`` partitions only when both topics have as many (Faust assigns topics of one
    partition count together). Otherwise a command meets no order on most workers."""
    wrong = {name: counts[name] for name in names if counts.get(name, partitions) != partitions}
    if not wrong:
        return None
    found = ", ".join(f"{name} has {count}" for name, count in wrong.items())
    return (
        f"{_PARTITIONS} is {partitions}, but {found} partitions: the order table has {_PARTITIONS} "
        f"partitions and a command finds its order only on the worker holding the table's partition "
        f"of it, so {' and '.join(names)} must both have {_PARTITIONS} partitions (set it to their "
        "count; a topic's partitions cannot be changed without moving its orders, docs/operations.md)"
    )


async def wait_for_broker(bootstrap: str, timeout: float = 30.0, **options: Any) -> None:
    """Return once a Kafka client can bootstrap against ``bootstrap``; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    options = {**options, "bootstrap_servers": bootstrap}
    with _quiet("aiokafka"):  # a refused connection is expected here, and reported below on timeout
        while time.monotonic() < deadline:
            client = AIOKafkaClient(**options, request_timeout_ms=2000)
            try:
                await client.bootstrap()
                return
            except (KafkaError, OSError) as exc:
                last = exc
            finally:
                await client.close()
            await asyncio.sleep(0.1)
    raise TimeoutError(f"broker at {bootstrap} did not answer within {timeout:.0f} s: {last}")


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence ``logger_name`` (below CRITICAL) for the duration of the block."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
