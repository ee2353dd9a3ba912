"""The batch consumer's newly assigned partitions, prepared in the background before they count as held.

A partition assigned to the batch consumer first needs its preparation (the path's
``before_assign``, path.py: the ledger and the durable registry read back, and the inbound folder
listed for files a previous owner recorded but never renamed). That work needs Kafka and SFTP, so
it runs in a task of its own, never in aiokafka's rebalance listener: a listener that raises leaves
the consumer holding nothing, for ever. Meanwhile the partitions are paused (they take no records)
and listed in ``waiting`` with their last error (``/ready``'s ``batch.partitions_waiting`` and
``flexbridge_batch_partitions_waiting``). A failed preparation, whatever the error, is tried again
with capped backoff (``FLEXBRIDGE_BATCH__RETRY_MAX_SECONDS``) until it succeeds, then the partitions
are resumed and handed to the consumer; a revocation cancels it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection

from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.retry import RetryPolicy, every_error, retry
from streams.runtime.supervise import watch

__all__ = ["Preparation", "Prepare"]

log = logging.getLogger(__name__)

Prepare = Callable[[Collection[TopicPartition]], Awaitable[None]]
Partitions = frozenset[TopicPartition]


class Preparation:
    """Partitions being prepared; ``ready`` gets them once their preparation succeeded."""

    def __init__(self, ready: Callable[[Collection[TopicPartition]], None], policy: RetryPolicy) -> None:
        self._ready, self._policy = ready, policy
        self.consumer: AIOKafkaConsumer | None = None  # pauses and resumes them (set at start)
        self._tasks: dict[Partitions, tuple[asyncio.Task[None], Prepare]] = {}
        self.waiting: dict[TopicPartition, str] = {}  # partition → its last error ("": none yet)

    def begin(self, assigned: Collection[TopicPartition], prepare: Prepare | None) -> None:
        """Prepare ``assigned`` in the background (at once without ``prepare``); never raises."""
        tps = frozenset(assigned)
        if prepare is None or not tps:
            self._ready(tps)
            return
        try:
            if self.consumer is not None:
                self.consumer.pause(*tps)
        except Exception:  # an assignment already gone: its revocation follows
            log.warning("could not pause %d assigned batch partitions", len(tps), exc_info=True)
        self.waiting.update(dict.fromkeys(tps, ""))
        task = watch(asyncio.create_task(self._prepare(tps, prepare), name="batch-prepare"))
        self._tasks[tps] = (task, prepare)

    async def _prepare(self, tps: Partitions, prepare: Prepare) -> None:
        async def failed(exc: BaseException) -> None:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.waiting.update(dict.fromkeys(tps, error))

        what = f"preparing {len(tps)} assigned batch partitions"
        await retry(
            lambda: prepare(tps),
            self._policy,
            what=what,
            log=log,
            level=logging.ERROR,
            retriable=every_error,
            on_retry=failed,
        )
        self._tasks.pop(tps, None)
        for tp in tps:
            self.waiting.pop(tp, None)
        if self.consumer is not None:
            self.consumer.resume(*tps)
        self._ready(tps)

    async def revoke(self, revoked: Collection[TopicPartition]) -> None:
        """Stop preparing the ``revoked`` partitions (the others of their preparation start again)."""
        gone = set(revoked)
        for tps in [t for t in self._tasks if t & gone]:
            task, prepare = self._tasks.pop(tps)
            task.cancel()
            await asyncio.wait([task])
            for tp in tps:
                self.waiting.pop(tp, None)
            if kept := tps - gone:
                self.begin(kept, prepare)

    async def stop(self) -> None:
        await self.revoke([tp for tps in self._tasks for tp in tps])
