"""The whole SFTP batch path of one worker: batch consumer, uploader and result poller on one SFTP client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from consumers.batch_registry import BatchRegistry
from consumers.sftp import SftpClient
from schemas.settings import Settings
from streams.batches import BatchConsumer
from streams.metrics import Metrics
from streams.poller import ResultPoller

__all__ = ["BatchPath"]


class BatchPath:
    def __init__(
        self,
        settings: Settings,
        *,
        token: Callable[[], Awaitable[str]],
        producer: AIOKafkaProducer,
        metrics: Metrics,
    ) -> None:
        self.sftp = SftpClient(settings.sftp)
        self.registry = BatchRegistry()
        self.consumer = BatchConsumer(
            settings, token=token, producer=producer, sftp=self.sftp, metrics=metrics, registry=self.registry
        )
        self.poller = ResultPoller(
            settings, self.sftp, producer, self.registry, metrics, owns=self.consumer.owns
        )

    @staticmethod
    def wanted(settings: Settings) -> bool:
        return "sftp" in (settings.routing.mit, settings.routing.transmit)

    async def start(self) -> None:
        self.sftp.check()  # a missing known_hosts file or unreadable key stops the worker at start
        await self.consumer.start()
        await self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()
        await self.consumer.stop()
        await self.sftp.close()

    def stats(self) -> dict[str, Any]:
        return {
            **self.consumer.stats(),
            "results_files": self.poller.handled,
            "results_bad_files": self.poller.failed_files,
            "results_missing": self.poller.missing,
        }
