"""How far the worker's Faust agents are behind: the command agent on ``orders.commands`` and the
order-state agent on ``orders.status``. For each partition of theirs this worker holds, the records
not committed yet; exported as ``flexbridge_agent_consumer_lag{agent,topic,partition}`` and sampled
when ``/metrics`` or ``/ready`` is read, like the other lag gauges.

The end is what the last fetch gave (the high watermark, or the last stable offset read committed:
streams/kafka/ends.py ``fetched_end``), since the embedded broker's ListOffsets under-reports it.
Faust commits a partition up to its first record not acked yet. Once every record handed out is
committed, the lag counts from the consumer's position instead: a producer transaction's commit
marker takes an offset of its own that is never handed out, so Faust never commits past it, and it
would show as a record for ever on a quiet partition. (Faust's and aiokafka's internals, read only.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import Gauge

from streams.kafka.ends import fetched_end
from streams.runtime.faust_fixes import handed_out

__all__ = ["agent_lags", "sample_agent_lag", "uncommitted"]


def sample_agent_lag(app: Any, agents: Mapping[str, str], gauge: Gauge) -> None:
    """Replace ``gauge``'s series (``flexbridge_agent_consumer_lag``) with :func:`agent_lags`."""
    gauge.clear()
    for (agent, tp), lag in agent_lags(app, agents).items():
        gauge.labels(agent, tp.topic, str(tp.partition)).set(lag)


def agent_lags(app: Any, agents: Mapping[str, str]) -> dict[tuple[str, TopicPartition], int]:
    """(agent, partition) → records not committed, for the partitions of ``agents`` (topic → agent
    name) that ``app``'s Faust consumer holds and has fetched."""
    consumer = app.consumer
    kafka = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    subscription = kafka._subscription.subscription if kafka is not None else None
    if subscription is None or subscription.assignment is None:
        return {}
    handed = handed_out(app)
    lags: dict[tuple[str, TopicPartition], int] = {}
    for tp in subscription.assignment.tps:
        agent = agents.get(tp.topic)
        if agent is None:
            continue
        try:
            end = fetched_end(kafka, tp)
        except (AssertionError, AttributeError):  # revoked meanwhile (Faust's consumer thread)
            continue
        if end is None:
            continue
        state = subscription.assignment.state_value(tp)
        position = state._position if state is not None else None
        lags[agent, tp] = uncommitted(end, consumer._committed_offset.get(tp), handed.get(tp), position)
    return lags


def uncommitted(end: int, committed: int | None, next_out: int | None, position: int | None) -> int:
    """Records of a partition not committed: ``end`` less the committed offset, or less the
    consumer's ``position`` once every record handed out (up to ``next_out``, None: none since the
    assignment or a seek) is committed."""
    caught_up = committed is not None and (next_out is None or committed >= next_out)
    base = position if caught_up and position is not None else committed
    return max(0, end - (base or 0))
