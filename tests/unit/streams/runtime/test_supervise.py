"""The supervisor of long-running tasks, and the pipeline's commit across a revocation."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka import TopicPartition

from streams.runtime import supervise as supervise_module
from streams.runtime.offsets import PartitionOffsets
from streams.runtime.pipeline import KeyedPipeline
from streams.runtime.supervise import supervise, watch


async def test_a_loop_that_dies_is_logged_at_once_and_restarted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(supervise_module, "FIRST_BACKOFF_SECONDS", 0.01)
    runs: list[int] = []

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise KeyError("revoked meanwhile")

    with caplog.at_level(logging.ERROR, logger="streams.runtime.supervise"):
        await asyncio.wait_for(supervise("commit-loop", loop), 5)
    assert runs == [0, 1, 2]
    died = [r for r in caplog.records if "task commit-loop died" in r.getMessage()]
    assert len(died) == 2 and all(r.exc_info for r in died)


async def test_cancelling_a_supervised_task_ends_it() -> None:
    task = supervise("forever", lambda: asyncio.sleep(3600))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_watched_task_that_dies_is_logged_when_it_dies(caplog: pytest.LogCaptureFixture) -> None:
    async def upload() -> None:
        raise OSError("gone")

    with caplog.at_level(logging.ERROR, logger="streams.runtime.supervise"):
        task = watch(asyncio.create_task(upload(), name="upload-x"))
        await asyncio.wait([task])
        await asyncio.sleep(0)  # done callbacks run on the next loop turn
    assert [r.getMessage() for r in caplog.records] == ["task upload-x died"]


class _SlowCommitConsumer:
    """Commits wait until released; meanwhile the partition is revoked."""

    def __init__(self) -> None:
        self.committing = asyncio.Event()
        self.release = asyncio.Event()
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committing.set()
        await self.release.wait()
        self.commits.append(dict(offsets))


async def test_a_commit_that_outlives_its_partition_does_not_raise() -> None:
    consumer = _SlowCommitConsumer()
    pipeline = KeyedPipeline(consumer, ["t"], lambda _r: asyncio.sleep(0))  # type: ignore[arg-type]
    tp = TopicPartition("t", 0)
    offsets = pipeline._offsets[tp] = PartitionOffsets()
    offsets.started(0)
    offsets.finished(0)
    committing = asyncio.create_task(pipeline._commit([tp]))
    await consumer.committing.wait()
    pipeline._offsets.pop(tp)  # what a revocation's drain does while the commit is in flight
    consumer.release.set()
    await committing  # a KeyError here once killed the commit loop
    assert consumer.commits == [{tp: 1}]
