"""Unit tests of streams.kafka.errors: aiokafka errors wrapped as KafkaFailure with retriable set."""

from __future__ import annotations

import pytest
from aiokafka import errors as ak

from core.errors import FlexbridgeError
from streams.kafka.errors import KafkaFailure, kafka_failure, kafka_op


@pytest.mark.parametrize(
    "exc",
    [
        ak.KafkaConnectionError("no broker"),  # aiokafka says retriable
        ak.NotLeaderForPartitionError(),
        ak.RequestTimedOutError(),
        ak.KafkaTimeoutError(),  # aiokafka says not, but an outage produces it
        ak.KafkaUnavailableError(),
        ak.RebalanceInProgressError(),
        ak.KafkaError("Unable to get cluster metadata over all known brokers"),
    ],
)
def test_outage_errors_are_retriable(exc: ak.KafkaError) -> None:
    failure = kafka_failure(exc)
    assert isinstance(failure, FlexbridgeError) and failure.retriable
    assert failure.cause is exc and failure.reason == "kafka"


@pytest.mark.parametrize(
    "exc",
    [
        ak.TopicAuthorizationFailedError(),
        ak.MessageSizeTooLargeError(),
        ak.ProducerClosed(),
        ak.ProducerFenced(),
        ak.KafkaConfigurationError("bad option"),
    ],
)
def test_errors_a_retry_cannot_fix_are_not(exc: ak.KafkaError) -> None:
    assert not kafka_failure(exc).retriable


async def test_kafka_op_wraps_kafka_errors_only() -> None:
    async def down() -> None:
        raise ak.KafkaTimeoutError()

    with pytest.raises(KafkaFailure) as caught:
        await kafka_op(down)()
    assert caught.value.retriable and isinstance(caught.value.__cause__, ak.KafkaTimeoutError)

    async def bug() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        await kafka_op(bug)()

    async def fine() -> int:
        return 7

    assert await kafka_op(fine)() == 7
