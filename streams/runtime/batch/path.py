"""The whole SFTP batch path of one worker: batch consumer, uploader and result poller on one SFTP client.

The batch registry is durable (streams/runtime/batch/store.py): every assignment of source partitions first
reads back what earlier owners registered for them, then the partitions count as held.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from consumers.sftp.client import SftpClient
from consumers.sftp.registry import BatchRegistry
from core.settings import Settings
from streams.kafka.clients import patiently
from streams.kafka.topics import ensure_topics
from streams.runtime.batch.consumer import BatchConsumer
from streams.runtime.batch.poller import ResultPoller
from streams.runtime.batch.store import BatchStore
from streams.runtime.metrics import Metrics

__all__ = ["BatchPath"]

log = logging.getLogger(__name__)


class BatchPath:
    def __init__(
        self,
        settings: Settings,
        *,
        token: Callable[[], Awaitable[str]],
        producer: AIOKafkaProducer,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.sftp = SftpClient(settings.sftp)
        self.store = BatchStore(settings, producer)
        self.registry = BatchRegistry(journal=self.store)
        self.consumer = BatchConsumer(
            settings, token=token, producer=producer, sftp=self.sftp, metrics=metrics, registry=self.registry
        )
        self.consumer.before_assign = self._load
        self.poller = ResultPoller(
            settings, self.sftp, producer, self.registry, metrics, owns=self.consumer.owns
        )
        self.restored = 0

    @staticmethod
    def wanted(settings: Settings) -> bool:
        return "sftp" in (settings.routing.mit, settings.routing.transmit)

    async def start(self) -> None:
        self.sftp.check()  # a missing known_hosts file or unreadable key stops the worker at start
        # compacted: the registry's tombstones then remove answered files from the topic for good
        await ensure_topics(self.settings, [self.settings.topics.batches], {"cleanup.policy": "compact"})
        await self.store.start()
        await self.consumer.start()
        await self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()
        await self.consumer.stop()
        await self.sftp.close()

    async def _load(self, assigned: Collection[TopicPartition]) -> None:
        """Restore the registry entries of newly assigned partitions; waits out a Kafka outage."""
        restored = await patiently(
            "reading the batch registry", lambda: self.store.load(assigned, self.registry), (KafkaError,)
        )
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
