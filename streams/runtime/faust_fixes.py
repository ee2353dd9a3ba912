"""Two fixes to faust-streaming 0.15.3 (pinned) that stop the worker's agents from skipping records.

After a rebalance, Faust's ``Recovery.on_recovery_completed`` resumes the stream partitions, seeks
them to their committed offsets and only then resumes the flow control, which empties every
agent's queue. Its fetcher already runs (it read the table's changelog), so records it hands out
during the seek land in those queues and are thrown away, while the consumer's position has moved
past them. Faust counts on the seek to bring them back, but aiokafka's ``seek_to_committed`` only
seeks partitions whose committed offset is above 0, so on a partition that has never been
committed nothing brings them back. The agent then waits for records that never come (until the
next rebalance): a command stays unanswered, a status is not applied to the order table.

* :func:`_on_recovery_completed` stops the flow before Faust resumes the stream partitions, so
  nothing is handed out before the seek; Faust resumes the flow at the end, as before.
* :func:`_seek_to_committed` also seeks stream partitions committed at 0 to 0 and uncommitted ones
  to where ``consumer_auto_offset_reset`` says, so every "seek back to committed" Faust does
  (here, and when a fetch returns while the flow is stopped) really goes back. Changelog
  partitions are left alone: the group never commits them, Faust positions them itself.

Both are at-least-once like the rest of Faust: a record handed out before its commit may be seen
again after a seek, and the handlers are idempotent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import aiokafka
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

__all__ = ["apply", "seek_to_committed"]

_original_on_recovery_completed = Recovery.on_recovery_completed


async def _on_recovery_completed(self: Recovery, generation_id: int = 0) -> None:
    self.app.consumer.stop_flow()
    await _original_on_recovery_completed(self, generation_id)


async def _seek_to_committed(self: AIOKafkaConsumerThread) -> Mapping[Any, int | None]:
    app = self.app
    committed: Mapping[Any, int | None] = await self.call_thread(
        seek_to_committed,
        self._ensure_consumer(),
        app.conf.consumer_auto_offset_reset,
        set(app.tables.changelog_topics),
    )
    return committed


async def seek_to_committed(
    consumer: aiokafka.AIOKafkaConsumer, reset: str, leave: Collection[str] = ()
) -> Mapping[Any, int | None]:
    """Seek every assigned partition to its committed offset, one never committed to ``reset``
    (``earliest`` or ``latest``), except those of the topics in ``leave``. Returns the committed
    offsets, None where there is none."""
    committed: dict[Any, int | None] = await consumer.seek_to_committed()
    for tp, offset in committed.items():
        if tp.topic in leave:
            continue
        if offset == 0:
            consumer.seek(tp, 0)
        elif offset is None and reset == "earliest":
            await consumer.seek_to_beginning(tp)
        elif offset is None and reset == "latest":
            await consumer.seek_to_end(tp)
    return committed


def apply() -> None:
    """Install both fixes (idempotent)."""
    Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
    AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed  # type: ignore[method-assign,assignment]
