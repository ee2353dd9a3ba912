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

:func:`_commit_offsets` first waits until every write put into the buffer before the commit began
has been handed to aiokafka (counted as the buffer takes and hands them over: writes put meanwhile
do not hold it up), for at most :data:`DRAIN_SECONDS`. If they are not by then, this commit is
skipped (logged) and the next one tries again, as when there is nothing to commit: the offsets stay
where they were, and a next owner folds those statuses again (a fold is idempotent,
consumers/order_machine.py). Faust's own flush then sends aiokafka's batches. (flexbridge runs
Faust's producer in the event loop, ``producer_threaded`` off; in a thread, nothing is waited for.)
The order table's writes go to Kafka by a path of their own (streams/runtime/changelog.py); the
commit waits for them the same way, once :func:`wait_for` names them. Installed by
:func:`streams.runtime.faust_fixes.apply`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from functools import partial
from typing import Any, Protocol, cast

from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer
from faust.types import TP

__all__ = ["DRAIN_SECONDS", "Writes", "handed_over", "install", "taken", "wait_for"]

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0  # how long a commit waits for the table writes before it is skipped
_PUT, _HANDED = "_flexbridge_put", "_flexbridge_handed"  # writes a buffer took in, and handed over

_original_put = ProducerBuffer.put
_original_send_pending = ProducerBuffer._send_pending
_original_commit_offsets = Consumer._commit_offsets


class Writes(Protocol):
    """Table writes sent by another path than Faust's buffer (streams/runtime/changelog.py)."""

    taken: int  # writes taken in so far

    async def handed_over(self, count: int, seconds: float) -> bool:
        """Whether the first ``count`` are aiokafka's within ``seconds``."""
        ...


_WRITES = "_flexbridge_writes"  # a Faust app's other writes


def wait_for(app: Any, writes: Writes) -> None:
    """Each commit of ``app``'s offsets first waits for ``writes`` too."""
    setattr(app, _WRITES, [*getattr(app, _WRITES, ()), writes])


def _put(self: ProducerBuffer, fut: Any) -> None:
    """``ProducerBuffer.put``, counted."""
    setattr(self, _PUT, getattr(self, _PUT, 0) + 1)
    _original_put(self, fut)


async def _send_pending(self: ProducerBuffer, fut: Any) -> None:
    """``ProducerBuffer._send_pending``, counted once the write is aiokafka's (the buffer hands
    them over one at a time, in the order they were put)."""
    await _original_send_pending(self, fut)
    setattr(self, _HANDED, getattr(self, _HANDED, 0) + 1)


def taken(buffer: ProducerBuffer) -> int:
    """How many writes ``buffer`` has taken in so far."""
    count: int = getattr(buffer, _PUT, 0)
    return count


async def handed_over(buffer: ProducerBuffer, count: int, seconds: float) -> bool:
    """Whether the first ``count`` writes put into ``buffer`` are aiokafka's within ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while getattr(buffer, _HANDED, 0) < count:
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
    threaded = self.app.conf.producer_threaded  # its writes are handed over elsewhere: not counted
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    waits = [] if threaded else [partial(handed_over, buffer, taken(buffer))]
    waits += [partial(writes.handed_over, writes.taken) for writes in getattr(self.app, _WRITES, ())]
    for wait in waits:
        if not await wait(max(0.0, deadline - loop.time())):
            log.warning(
                "table writes not handed to Kafka after %.0f s: offsets not committed yet", DRAIN_SECONDS
            )
            return False
    committed: bool = await _original_commit_offsets(self, offsets, start_new_transaction)
    return committed


def install() -> None:
    """Idempotent."""
    ProducerBuffer.put = _put  # type: ignore[method-assign]
    ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]
    Consumer._commit_offsets = _commit_offsets  # type: ignore[method-assign]
