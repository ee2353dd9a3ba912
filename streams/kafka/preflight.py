"""Start-up probes of the broker: is it there, and does it take the idempotent producer. A refusal
becomes a message naming the setting to change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import BrokerResponseError, KafkaError, UnsupportedVersionError

from core.config import ConfigError
from core.settings import KafkaSettings
from streams.kafka.clients import make_producer

__all__ = ["probe_idempotence", "wait_for_broker"]


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
