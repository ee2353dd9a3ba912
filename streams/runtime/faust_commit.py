"""Faust commits no offset before the table writes of the records it covers are handed to Kafka.

A Faust table write (the order table's fold of a status, a command's record) is not sent at once: it
waits in the producer's buffer (``ProducerBuffer``, Faust's ``send_soon``) until a task of the
buffer hands it to aiokafka. Before each commit of the agents' offsets, Faust's consumer flushes
the producer: the buffer, then aiokafka's batches. But the buffer's flush gives up as soon as no
write has left it for 0.1 s, and it counts only the writes still queued, not the one being handed
over. A write held up that long (Kafka slow to make room in aiokafka's batch, or the event loop busy
for 0.1 s) was then still in the process when the offset of the status it folded was committed. A
worker killed at that moment left the next owner of the partition an order table without that
status, and no record to fold it again from.

:func:`_commit_offsets` first waits until the buffer is empty and nothing is being handed over, for
at most :data:`DRAIN_SECONDS`. If it is not by then, this commit is skipped (logged) and the next
one tries again, as when there is nothing to commit: the offsets stay where they were, and a next
owner folds those statuses again (a fold is idempotent, consumers/order_machine.py). Installed by
:func:`streams.runtime.faust_fixes.apply`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer
from faust.types import TP

__all__ = ["DRAIN_SECONDS", "drained", "install"]

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0  # how long a commit waits for the table writes before it is skipped
_HANDING = "_flexbridge_handing"  # the write a buffer is handing to aiokafka, if any

_original_send_pending = ProducerBuffer._send_pending
_original_commit_offsets = Consumer._commit_offsets


async def _send_pending(self: ProducerBuffer, fut: Any) -> None:
    """``ProducerBuffer._send_pending``, noting the write being handed over meanwhile."""
    setattr(self, _HANDING, fut)
    try:
        await _original_send_pending(self, fut)
    finally:
        setattr(self, _HANDING, None)


async def drained(buffer: ProducerBuffer, seconds: float) -> bool:
    """Whether every write put into ``buffer`` so far is handed to aiokafka within ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while buffer.size or getattr(buffer, _HANDING, None) is not None:
        left = deadline - loop.time()
        if left <= 0:
            return False
        buffer.message_sent.clear()  # set again by the buffer's task after each write handed over
        try:
            await asyncio.wait_for(buffer.message_sent.wait(), left)
        except TimeoutError:
            return False
    return True


async def _commit_offsets(
    self: Consumer, offsets: Mapping[TP, int], start_new_transaction: bool = True
) -> bool:
    buffer = cast(ProducerBuffer, self.app.producer.buffer)
    if not await drained(buffer, DRAIN_SECONDS):
        log.warning(
            "%d table writes not handed to Kafka after %.0f s: offsets not committed yet",
            buffer.size,
            DRAIN_SECONDS,
        )
        return False
    committed: bool = await _original_commit_offsets(self, offsets, start_new_transaction)
    return committed


def install() -> None:
    """Idempotent."""
    ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]
    Consumer._commit_offsets = _commit_offsets  # type: ignore[method-assign]
