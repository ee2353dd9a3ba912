"""A consumer stopped while its group join is in flight: aiokafka's ``stop()`` lets the join finish
and calls the rebalance listener with the new assignment. Nothing is read from those partitions
any more, so neither reader prepares them (no assign hook, no committed-offset lookup racing the
closing connection)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from types import SimpleNamespace

from aiokafka import ConsumerRebalanceListener, TopicPartition

from consumers.retry import capped
from streams.kafka.clients import Rebalance
from streams.runtime.batch.assign import Preparation
from streams.runtime.batch.consumer import BatchConsumer
from streams.runtime.pipeline import KeyedPipeline

TP = TopicPartition("payments.declined", 0)


class _JoinFinishingOnStop:
    """Stands in for aiokafka's consumer: ``stop()`` completes the join that was in flight."""

    def __init__(self) -> None:
        self.listener: ConsumerRebalanceListener | None = None
        self.committed_asked: list[TopicPartition] = []

    async def stop(self) -> None:
        assert self.listener is not None
        await self.listener.on_partitions_assigned([TP])

    async def committed(self, tp: TopicPartition) -> int:
        self.committed_asked.append(tp)
        return 0

    def pause(self, *_: TopicPartition) -> None: ...

    def resume(self, *_: TopicPartition) -> None: ...

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, tp: TopicPartition) -> int | None:
        return None  # no fetch answered yet: no lag known


def pipeline_on(consumer: _JoinFinishingOnStop) -> tuple[KeyedPipeline, list[Collection[TopicPartition]]]:
    """A pipeline reading through ``consumer``, and the assignments its assign hook was given."""
    hooked: list[Collection[TopicPartition]] = []

    async def hook(assigned: Collection[TopicPartition]) -> None:
        hooked.append(assigned)

    return KeyedPipeline(consumer, [TP.topic], lambda _r: None, on_assign=hook), hooked  # type: ignore[arg-type]


async def test_the_pipeline_leaves_an_assignment_that_comes_during_its_stop() -> None:
    consumer = _JoinFinishingOnStop()
    pipeline, hooked = pipeline_on(consumer)
    consumer.listener = Rebalance(pipeline.drain, pipeline.assigned)  # as the pipeline subscribes
    await pipeline.stop()
    assert hooked == []
    assert pipeline._learner is None  # no task left asking for committed offsets
    assert consumer.committed_asked == []
    assert pipeline.lag() == {} and not pipeline.joined.is_set()


async def test_the_pipeline_still_prepares_an_assignment_before_its_stop() -> None:
    consumer = _JoinFinishingOnStop()
    pipeline, hooked = pipeline_on(consumer)
    await Rebalance(pipeline.drain, pipeline.assigned).on_partitions_assigned([TP])
    assert hooked == [[TP]] and pipeline.joined.is_set()
    assert pipeline._learner is not None
    await pipeline._learner
    assert consumer.committed_asked == [TP]


async def test_the_batch_consumer_leaves_an_assignment_that_comes_during_its_stop() -> None:
    loaded: list[Collection[TopicPartition]] = []
    taken: list[Collection[TopicPartition]] = []

    async def load(assigned: Collection[TopicPartition]) -> None:
        loaded.append(assigned)

    preparing = Preparation(taken.append, capped(1.0))
    owner = SimpleNamespace(stopping=False, before_assign=load, preparing=preparing)
    on_assigned = BatchConsumer._on_assigned  # what its Rebalance listener calls
    await on_assigned(owner, [TP])  # type: ignore[arg-type]
    await asyncio.wait([task for task, _ in preparing._tasks.values()])  # prepared in the background
    assert loaded == [{TP}] and taken == [{TP}]
    owner.stopping = True  # what BatchConsumer.stop() sets before it stops its aiokafka consumer
    await on_assigned(owner, [TP])  # type: ignore[arg-type]
    assert not preparing._tasks and loaded == [{TP}] and taken == [{TP}]
