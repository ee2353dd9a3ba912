"""How many statuses a worker has folded into its order table: its changelog records, counted.

The order-state agent folds each OrderStatus after the receiver has answered, and writes one
changelog record per fold that changes an order (every status of a new order does). Counting the
records the changelog gets from now on tells when a worker has done all the work a burst of
webhooks left it, without asking the worker itself (a ``/metrics`` poll would cost its CPU).
"""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import until
from streams.kafka.ends import probe_ends

__all__ = ["Folded"]

FETCH_WAIT_MS = 10  # the embedded broker holds an empty fetch this long (docs/benchmarks.md)


class Folded:
    """``async with Folded(bootstrap, topic) as folded``: counts ``topic``'s records written since
    (``from_start``: since the topic began, for a worker whose table starts empty)."""

    def __init__(self, bootstrap: str, topic: str, *, from_start: bool = False) -> None:
        self._bootstrap, self._topic, self._from_start = bootstrap, topic, from_start
        self._reader = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=FETCH_WAIT_MS
        )
        self.count = 0

    async def __aenter__(self) -> Folded:
        await self._reader.start()

        async def declared() -> bool:  # by the worker's Faust app, as its table starts
            await self._reader._client.force_metadata_update()
            return bool(self._reader.partitions_for_topic(self._topic))

        await until(declared, 60, f"the worker's order table changelog {self._topic}", every=0.2)
        parts = self._reader.partitions_for_topic(self._topic) or set()
        tps = [TopicPartition(self._topic, p) for p in sorted(parts)]
        self._reader.assign(tps)
        if self._from_start:
            ends = dict.fromkeys(tps, 0)
        else:
            ends = await probe_ends({"bootstrap_servers": self._bootstrap}, tps)  # ListOffsets stops short
        for tp in tps:
            self._reader.seek(tp, ends[tp])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._reader.stop()

    async def reach(self, total: int, timeout: float = 300.0) -> float:
        """Read on until ``total`` records came since the start; the monotonic time they had."""

        async def enough() -> bool:
            batches = await self._reader.getmany(timeout_ms=FETCH_WAIT_MS * 10)
            self.count += sum(len(records) for records in batches.values())
            return self.count >= total

        if self.count >= total:
            return time.monotonic()
        return await until(enough, timeout, f"{total} changelog records on {self._topic}", every=0)
