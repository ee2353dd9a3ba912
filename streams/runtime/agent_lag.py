"""How far the worker's Faust agents are behind: the command agent on ``orders.commands`` and the
order-state agent on ``orders.status``. For each partition of theirs this worker holds, the records
not committed yet; exported as ``flexbridge_agent_consumer_lag{agent,topic,partition}`` and sampled
when ``/metrics`` or ``/ready`` is read, like the other lag gauges.

The end is what the last fetch gave (the high watermark, or the last stable offset read committed:
streams/kafka/ends.py ``fetched_end``), since the embedded broker's ListOffsets under-reports it.
Faust commits a partition up to its first record not acked yet, and past a producer transaction's
commit marker at its next commit (streams/runtime/faust_offsets.py). (Faust's and aiokafka's
internals, read only.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import Gauge

from streams.kafka.ends import fetched_end
from streams.runtime.folds import Ends

__all__ = ["agent_lags", "fold_ends", "sample_agent_lag"]


def sample_agent_lag(app: Any, agents: Mapping[str, str], gauge: Gauge) -> None:
    """Replace ``gauge``'s series (``flexbridge_agent_consumer_lag``) with :func:`agent_lags`."""
    gauge.clear()
    for (agent, tp), lag in agent_lags(app, agents).items():
        gauge.labels(agent, tp.topic, str(tp.partition)).set(lag)


def agent_lags(app: Any, agents: Mapping[str, str]) -> dict[tuple[str, TopicPartition], int]:
    """(agent, partition) → records not committed, for the partitions of ``agents`` (topic → agent
    name) that ``app``'s Faust consumer holds and has fetched."""
    kafka = _kafka_consumer(app)
    subscription = kafka._subscription.subscription if kafka is not None else None
    if subscription is None or subscription.assignment is None:
        return {}
    lags: dict[tuple[str, TopicPartition], int] = {}
    for tp in subscription.assignment.tps:
        agent = agents.get(tp.topic)
        if agent is None:
            continue
        end, committed = _end_and_committed(app, tp)
        if end is not None:
            lags[agent, tp] = max(0, end - committed)
    return lags


def fold_ends(app: Any, topic: str) -> Ends:
    """For a partition of ``topic`` (``orders.status``): where it ends by the last fetch of ``app``'s
    Faust consumer (None before one, or once revoked) and its committed offset
    (streams/runtime/folds.py)."""
    return lambda partition: _end_and_committed(app, TopicPartition(topic, partition))


def _end_and_committed(app: Any, tp: TopicPartition) -> tuple[int | None, int]:
    """Where ``tp`` ends by the last fetch of ``app``'s Faust consumer (None before one, or when not
    assigned: revoked meanwhile, in Faust's consumer thread), and its committed offset."""
    kafka = _kafka_consumer(app)
    try:
        end = fetched_end(kafka, tp) if kafka is not None else None
    except (AssertionError, AttributeError):
        end = None
    return end, app.consumer._committed_offset.get(tp) or 0


def _kafka_consumer(app: Any) -> Any:
    """The aiokafka consumer inside ``app``'s Faust consumer thread (None before it starts)."""
    return getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
