"""Faust's livelock check on a partition assigned but not yet positioned: Faust's own check stops
the worker on aiokafka's assertion; flexbridge's leaves it for the next round
(streams/runtime/faust_fixes.py ``_verify_event_path``)."""

from __future__ import annotations

import logging
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.subscription_state import TopicPartitionState
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from streams.runtime import faust_fixes

COMMANDS = TP("orders.commands", 3)
NOW = 1_000.0


def _thread(state: TopicPartitionState) -> Any:
    """Faust's consumer thread as its livelock check reads it, over aiokafka's real partition state."""
    assignment = SimpleNamespace(active=True, state_value=lambda _tp: state)
    subscriptions = SimpleNamespace(subscription=SimpleNamespace(assignment=assignment))
    consumer = SimpleNamespace(_fetcher=SimpleNamespace(_subscriptions=subscriptions))
    app = SimpleNamespace(monitor=SimpleNamespace(), topics=SimpleNamespace(acks_enabled_for=lambda _t: True))
    thread: Any = SimpleNamespace(
        _ensure_consumer=lambda: consumer,
        consumer=SimpleNamespace(app=app),
        time_started=NOW - 60,
        tp_fetch_request_timeout_secs=30.0,
        tp_stream_timeout_secs=30.0,
        log=logging.getLogger(__name__),
    )
    thread._verify_aiokafka_event_path = partial(AIOKafkaConsumerThread._verify_aiokafka_event_path, thread)
    return thread


async def test_a_partition_without_a_position_is_left_for_the_next_round() -> None:
    state = TopicPartitionState(assignment=None)  # assigned, fetched a second ago, not positioned yet
    state.timestamp, state.highwater = (NOW - 1) * 1000, 10
    thread = _thread(state)
    with pytest.raises(AssertionError) as faust_own:  # Faust's check: the worker stops
        faust_fixes._original_verify_event_path(thread, NOW, COMMANDS)
    assert str(faust_own.traceback[-1].path).endswith("subscription_state.py")  # aiokafka's position
    faust_fixes._verify_event_path(thread, NOW, COMMANDS)  # flexbridge's: it returns, the worker goes on
