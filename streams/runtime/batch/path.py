"""The whole SFTP batch path of one worker, and where it is assembled: batch consumer, uploader and
result pollers on one SFTP client per merchant (consumers/sftp/accounts.py), one batch registry, and
the worker's ledger (the events already in a file, shared with the real-time pipeline).
Only the merchants that route something to SFTP take part (``routing.mit`` / ``routing.transmit``).

The batch registry is durable (streams/runtime/batch/store.py): every assignment of source partitions first
reads back what earlier owners registered for them, settles the files they recorded before a
rename (reclaim.py), then the partitions count as held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any

from aiokafka import TopicPartition

from consumers.retry import OUTAGE, retry
from consumers.sftp.accounts import SftpAccounts
from consumers.sftp.registry import BatchRegistry
from core.merchants import Merchant
from core.settings import BatchSettings, PipelineSettings, RoutingSettings, SftpSettings, TopicSettings
from streams.kafka.clients import make_producer
from streams.kafka.errors import kafka_op
from streams.kafka.topics import ensure_topics
from streams.runtime.awaiting import AwaitingResults
from streams.runtime.batch.consumer import BatchConsumer
from streams.runtime.batch.polls import ResultPolls
from streams.runtime.batch.reclaim import Reclaim
from streams.runtime.batch.store import BatchStore
from streams.runtime.batch.upload import Uploader
from streams.runtime.deps import Deps
from streams.runtime.ledger import Ledger

__all__ = ["BatchPath", "batch_topics"]

log = logging.getLogger(__name__)

# The PENDING statuses of a file go out on a producer of their own whose produce batches hold a
# partition's share of a file (~110 KB of 2000 statuses over 8 partitions) at once: aiokafka sends
# one batch per partition per request, so the worker producer's 16 KB batches cost a file's
# statuses a round trip to Kafka per 16 KB (about as long as the file's SFTP write, or longer).
# Well under Kafka's 1 MB message limit.
BULK_BATCH_BYTES = 512 * 1024


def batch_topics(topics: TopicSettings, routing: RoutingSettings | Iterable[Merchant]) -> list[str]:
    """The source topics some merchant routes to SFTP: declines (managed MIT) and/or approvals."""
    routes = [routing] if isinstance(routing, RoutingSettings) else [m.routing for m in routing]
    wanted = [topics.declined] if any(r.uses_sftp("mit") for r in routes) else []
    return wanted + ([topics.approved] if any(r.uses_sftp("transmit") for r in routes) else [])


class BatchPath:
    def __init__(
        self,
        deps: Deps,
        *,
        batch: BatchSettings,
        sftp: SftpSettings,
        pipeline: PipelineSettings,
        token: Callable[[Merchant], Awaitable[str]],
        awaiting: AwaitingResults | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        if deps.merchants is None:
            raise ValueError("the batch path needs the merchants (Flex credentials or a merchants file)")
        self._kafka, self._topic = deps.kafka, deps.topics.batches
        self.metrics = deps.metrics
        self.merchants = [m for m in deps.merchants if m.sftp_routes]
        # an active merchant's connection stays between its polls; closed when unused for a while
        idle = batch.sftp_idle_timeout_seconds or 2 * batch.poll_interval_seconds + 1.0
        self.sftp = SftpAccounts(sftp, idle_seconds=idle)
        self.store = BatchStore(deps.kafka, deps.topics.batches, deps.producer)
        self.registry = BatchRegistry(journal=self.store)
        self._bulk = make_producer(deps.kafka, max_batch_size=BULK_BATCH_BYTES)
        # the worker's, shared with its pipeline; else one of its own (bench/mit_path.py)
        self.ledger = ledger if ledger is not None else Ledger(deps.kafka, deps.topics.ledger, deps.producer)
        bulk = dataclasses.replace(deps, producer=self._bulk)
        uploader = Uploader(
            bulk,
            batch,
            sftp.inbound_dir,
            token,
            self.sftp,
            self.registry,
            ledger=self.ledger,
            awaiting=awaiting,
        )
        self.consumer = BatchConsumer(
            deps,
            batch,
            pipeline,
            topics=batch_topics(deps.topics, self.merchants),
            uploader=uploader,
            registry=self.registry,
            ledger=self.ledger,
        )
        self.consumer.before_assign = self._load
        self.reclaim = Reclaim(self.merchants, self.sftp, sftp.inbound_dir, self.registry, self.store)
        self.consumer.uploaded = self.store
        self.poller = self._polls(deps, batch, sftp.outbound_dir, uploader)
        self.restored = 0

    def _polls(self, deps: Deps, batch: BatchSettings, outbound_dir: str, uploader: Uploader) -> ResultPolls:
        """The result pollers of this path's merchants, for the files of the partitions it holds."""
        return ResultPolls(
            deps,
            batch,
            outbound_dir,
            self.sftp,
            self.registry,
            merchants=self.merchants,
            owns=self.consumer.owns,
            last_upload=uploader.last_upload,
        )

    async def start(self) -> None:
        # a missing known_hosts file or a merchant's unreadable key stops the worker at start
        self.sftp.check(self.merchants)
        # compacted: the registry's tombstones then remove answered files from the topic for good
        await ensure_topics(self._kafka, [self._topic], {"cleanup.policy": "compact"})
        await self.store.start()
        await self._bulk.start()
        await self.consumer.start()
        await self.poller.start()

    async def stop(self) -> None:
        # side by side: each gets the drain timeout, and one after the other could outlast a deploy's grace
        await asyncio.gather(self.poller.stop(), self.consumer.stop())
        await self._bulk.stop()
        await self.sftp.close()

    async def _load(self, assigned: Collection[TopicPartition]) -> None:
        """Read the ledger of the assigned partitions and restore their registry entries; waits out a
        Kafka outage."""
        ledger = kafka_op(lambda: self.ledger.load(assigned, reader="batch"))
        await retry(ledger, OUTAGE, what="reading the ledger", log=log)
        load = kafka_op(lambda: self.store.load(assigned, self.registry))
        restored = await retry(load, OUTAGE, what="reading the batch registry", log=log)
        self.restored += restored
        if restored:
            log.info("batch registry: %d files restored for %d partitions", restored, len(assigned))
        await self.reclaim.settle(self.store.loaded())  # never renamed: read into a file again

    def stats(self) -> dict[str, Any]:
        return {
            **self.consumer.stats(),
            "results_files": self.poller.handled,
            "results_bad_files": self.poller.failed_files,
            "results_missing": self.poller.missing,
            "results_reclaimed": self.poller.reclaimed,
            "result_polls": self.poller.polls,
            "result_poll_failures": self.poller.poll_failures,
            "registry_restored": self.restored,
            "sftp_sessions": self.sftp.open_sessions,
        }
