"""Kafka unavailable while a webhook arrives: 503 (Flex retries), then accepted once Kafka is back, one copy.

The test has a broker of its own, frozen with SIGSTOP (its memory-only storage survives, so "one
copy" can be checked across the whole outage) and thawed with SIGCONT.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streams.local.broker import EmbeddedBroker
from streams.local.procs import free_port
from tests.conftest import Stack
from tests.flows import ready
from tests.support import Sandbox, unique
from tests.webhook_support import KEYS_ENV, payload, published, send

pytestmark = pytest.mark.integration


@pytest.fixture
async def own_broker(log_dir: Path) -> AsyncIterator[EmbeddedBroker]:
    b = EmbeddedBroker(free_port(), log_path=log_dir / "webhook-outage-broker.log")
    await b.start()
    try:
        yield b
    finally:
        b.stop()


def _signal(broker: EmbeddedBroker, signum: int) -> None:
    pid = broker.pid  # the test freezes and thaws the broker process itself
    assert pid is not None
    os.kill(pid, signum)


async def test_kafka_unavailable_answers_503_then_accepts_one_copy(
    own_broker: EmbeddedBroker, sandbox: Sandbox, log_dir: Path
) -> None:
    stack = Stack(own_broker, sandbox, log_dir)
    worker = stack.worker(**KEYS_ENV, FLEXBRIDGE_WEBHOOK__PRODUCE_TIMEOUT_SECONDS=2)
    try:
        await ready(worker, 90)
        warm = unique("ORD-warm")
        assert await send(worker, payload(warm)) == (200, "accepted")

        order = unique("ORD-outage")
        _signal(own_broker, signal.SIGSTOP)
        try:
            started = time.monotonic()
            assert await send(worker, payload(order)) == (503, "unavailable")
            assert time.monotonic() - started < 10  # a bounded wait, not a hang
            assert await send(worker, payload(order, resent=True)) == (503, "unavailable")
        finally:
            _signal(own_broker, signal.SIGCONT)

        # The publication that timed out finished once Kafka was back: a retry finds it done
        # ("duplicate") or still finishing ("accepted"); either way it produces nothing more.
        code, _ = await send(worker, payload(order, resent=True))
        assert code == 200
        assert await send(worker, payload(order, resent=True)) == (200, "duplicate")
        assert [r.value for r in await published(stack, "webhooks", order)] == [payload(order)]
        assert len(await published(stack, "status", order)) == 1
    finally:
        stack.close()
