"""Uploading one closed batch file: token, manifest, data file, registry entry, PENDING statuses.

Each step retries until it succeeds (SFTP drops reconnect with backoff; an unavailable token
endpoint or Kafka is waited out), so the caller commits the file's offsets only after all of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from consumers.batch_files import BatchBuilder, SealedBatch
from consumers.batch_registry import BatchRegistry, SentRecord
from consumers.sftp import SftpClient
from schemas.batch import temp_name
from schemas.errors import FlexbridgeError
from schemas.settings import Settings
from schemas.status import OrderStatus
from streams.metrics import Metrics

__all__ = ["Uploader", "pending_status", "pending_values"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def pending_status(name: str, record: SentRecord) -> OrderStatus:
    return OrderStatus(
        order_id=record.order_id,
        status="PENDING",
        source="batch",
        event_id=record.event_id,
        detail={
            "batchFile": name,
            "sequenceNumber": record.sequence_number,
            "idempotencyKey": record.idempotency_key,
        },
    )


def pending_values(name: str, sent: list[SentRecord]) -> list[bytes]:
    """``encode_model(pending_status(name, r))`` for every record of a file, all with one
    ``occurredAt``: one model is built and the rest reuse its encoded fields (the hot path)."""
    if not sent:
        return []
    fields = pending_status(name, sent[0]).model_dump(mode="json", by_alias=True)
    values = []
    for r in sent:
        detail = {"batchFile": name, "sequenceNumber": r.sequence_number, "idempotencyKey": r.idempotency_key}
        record = {**fields, "orderId": r.order_id, "eventId": r.event_id, "detail": detail}
        values.append(orjson.dumps(record))
    return values


class Uploader:
    def __init__(
        self,
        settings: Settings,
        token: Callable[[], Awaitable[str]],
        producer: AIOKafkaProducer,
        sftp: SftpClient,
        metrics: Metrics,
        registry: BatchRegistry,
    ) -> None:
        self._settings = settings
        self._token = token
        self._producer = producer
        self._sftp = sftp
        self._metrics = metrics
        self._registry = registry
        self._slots = asyncio.Semaphore(settings.batch.upload_concurrency)
        self.files = 0
        self.records = 0
        self.upload_seconds = 0.0
        self.on_uploaded: Callable[[SealedBatch], Awaitable[None]] | None = None

    async def upload(self, builder: BatchBuilder) -> SealedBatch:
        async with self._slots:
            started = time.monotonic()
            token = await _patiently("Flex token", self._token, (FlexbridgeError,))
            sealed = builder.seal(token)
            inbound = self._settings.sftp.inbound_dir
            manifest = sealed.manifest.encode()
            await self._sftp.upload(inbound, sealed.manifest_name, manifest, temp_name(sealed.manifest_name))
            if builder.kind == "evaluate":  # before the rename: its result may come back at once
                self._registry.add(sealed.name, builder.sent)
            try:
                await self._sftp.upload(inbound, sealed.name, sealed.data, sealed.temp)
            except BaseException:
                self._registry.forget(lambda name: name == sealed.name)
                raise
            self.upload_seconds += time.monotonic() - started
        if builder.kind == "evaluate":  # durable before the commit: a restart still reconciles it
            await _patiently("batch registry", lambda: self._registry.persist(sealed.name), (KafkaError,))
        if self.on_uploaded is not None:
            await self.on_uploaded(sealed)
        if builder.kind == "evaluate":
            await _patiently(
                "PENDING statuses", lambda: self._pending(sealed.name, builder.sent), (KafkaError,)
            )
        self.files += 1
        self.records += len(builder)
        self._metrics.batch_uploaded(builder.kind, len(builder))
        log.info("uploaded %s (%d records, %d bytes)", sealed.name, len(builder), len(sealed.data))
        return sealed

    async def _pending(self, name: str, sent: list[SentRecord]) -> None:
        topic = self._settings.topics.status
        futures = [
            await self._producer.send(topic, value, r.order_id.encode())
            for r, value in zip(sent, pending_values(name, sent), strict=True)
        ]
        await asyncio.gather(*futures)

    def stats(self) -> dict[str, Any]:
        return {"files_uploaded": self.files, "records_uploaded": self.records}


async def _patiently(what: str, op: Callable[[], Awaitable[T]], errors: tuple[type[Exception], ...]) -> T:
    delay = 0.5
    while True:
        try:
            return await op()
        except errors as exc:
            log.warning("%s failed (%s); retrying in %.1f s", what, type(exc).__name__, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
