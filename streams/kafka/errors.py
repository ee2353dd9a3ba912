"""Kafka failures as flexbridge errors: aiokafka's ``KafkaError`` wrapped, with ``retriable`` set.

``retriable`` is aiokafka's own attribute, except for the errors aiokafka marks permanent that a
broker outage or a rebalance produces and that go away by themselves (:data:`TRANSIENT`): a
request that timed out, a broker or replica that is not available, a rebalance in progress, and
the bare ``KafkaError`` aiokafka raises when no known broker answers a metadata request.
Authorisation, configuration, oversized records and a closed or fenced producer stay permanent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import (
    BrokerNotAvailableError,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    RebalanceInProgressError,
    ReplicaNotAvailableError,
)

from core.errors import FlexbridgeError

__all__ = ["TRANSIENT", "KafkaFailure", "kafka_failure", "kafka_op"]

T = TypeVar("T")

TRANSIENT: tuple[type[KafkaError], ...] = (
    KafkaTimeoutError,
    KafkaUnavailableError,
    BrokerNotAvailableError,
    ReplicaNotAvailableError,
    RebalanceInProgressError,
)


class KafkaFailure(FlexbridgeError):
    """A Kafka request failed; ``cause`` is aiokafka's error (also ``__cause__``)."""

    reason = "kafka"

    def __init__(self, message: str, *, retriable: bool, cause: KafkaError) -> None:
        super().__init__(message, retriable=retriable)
        self.cause = cause


def kafka_failure(exc: KafkaError) -> KafkaFailure:
    """``exc`` as a :class:`KafkaFailure` (raise it ``from exc``)."""
    retriable = bool(exc.retriable) or type(exc) is KafkaError or isinstance(exc, TRANSIENT)
    text = str(exc)
    return KafkaFailure(
        f"{type(exc).__name__}: {text}" if text else type(exc).__name__, retriable=retriable, cause=exc
    )


def kafka_op(op: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    """``op`` with every ``KafkaError`` it raises wrapped in a :class:`KafkaFailure`."""

    async def wrapped() -> T:
        try:
            return await op()
        except KafkaError as exc:
            raise kafka_failure(exc) from exc

    return wrapped
