"""The whole SFTP batch path of one worker, and where it is assembled: batch consumer, uploader and
result poller on one SFTP client and one batch registry.

The batch registry is durable (streams/runtime/batch/store.py): every assignment of source partitions first
reads back what earlier owners registered for them, then the partitions count as held.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiokafka import TopicPartition

from consumers.retry import OUTAGE, retry
from consumers.sftp.client import SftpClient
from consumers.sftp.registry import BatchRegistry
from core.settings import BatchSettings, PipelineSettings, RoutingSettings, SftpSettings, TopicSettings
from streams.kafka.errors import kafka_op
from streams.kafka.topics import ensure_topics
from streams.runtime.batch.consumer import BatchConsumer
from streams.runtime.batch.poller import ResultPoller
from streams.runtime.batch.store import BatchStore
from streams.runtime.batch.upload import Uploader
from streams.runtime.deps import Deps

__all__ = ["BatchPath", "batch_topics"]

log = logging.getLogger(__name__)


def batch_topics(topics: TopicSettings, routing: RoutingSettings) -> list[str]:
    """The source topics routed to SFTP: declines (managed MIT) and/or approvals."""
    wanted = [topics.declined] if routing.mit == "sftp" else []
    return wanted + ([topics.approved] if routing.transmit == "sftp" else [])


class BatchPath:
    def __init__(
        self,
        deps: Deps,
        *,
        batch: BatchSettings,
        sftp: SftpSettings,
        pipeline: PipelineSettings,
        token: Callable[[], Awaitable[str]],
    ) -> None:
        self._kafka, self._topic = deps.kafka, deps.topics.batches
        self.metrics = deps.metrics
        self.sftp = SftpClient(sftp)
        self.store = BatchStore(deps.kafka, deps.topics.batches, deps.producer)
        self.registry = BatchRegistry(journal=self.store)
        uploader = Uploader(deps, batch, sftp.inbound_dir, token, self.sftp, self.registry)
        self.consumer = BatchConsumer(
            deps,
            batch,
            pipeline,
            topics=batch_topics(deps.topics, deps.routing),
            uploader=uploader,
            registry=self.registry,
        )
        self.consumer.before_assign = self._load
        self.poller = ResultPoller(
            deps, batch, sftp.outbound_dir, self.sftp, self.registry, owns=self.consumer.owns
        )
        self.restored = 0

    @staticmethod
    def wanted(routing: RoutingSettings) -> bool:
        return "sftp" in (routing.mit, routing.transmit)

    async def start(self) -> None:
        self.sftp.check()  # a missing known_hosts file or unreadable key stops the worker at start
        # compacted: the registry's tombstones then remove answered files from the topic for good
        await ensure_topics(self._kafka, [self._topic], {"cleanup.policy": "compact"})
        await self.store.start()
        await self.consumer.start()
        await self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()
        await self.consumer.stop()
        await self.sftp.close()

    async def _load(self, assigned: Collection[TopicPartition]) -> None:
        """Restore the registry entries of newly assigned partitions; waits out a Kafka outage."""
        load = kafka_op(lambda: self.store.load(assigned, self.registry))
        restored = await retry(load, OUTAGE, what="reading the batch registry", log=log)
        self.restored += restored
        if restored:
            log.info("batch registry: %d files restored for %d partitions", restored, len(assigned))

    def stats(self) -> dict[str, Any]:
        return {
            **self.consumer.stats(),
            "results_files": self.poller.handled,
            "results_bad_files": self.poller.failed_files,
            "results_missing": self.poller.missing,
            "results_reclaimed": self.poller.reclaimed,
            "result_polls": self.poller.polls,
            "registry_restored": self.restored,
        }
