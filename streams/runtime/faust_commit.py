"""Faust commits no offset before the order table's writes it covers are handed to Kafka.

Faust's consumer commits the agents' offsets after flushing its producer, which knows only the
records Faust itself sends. The order table's writes (the fold of a status, a command's record, the
retention's deletes) go by flexbridge's own path (streams/runtime/changelog.py), one task handing
them to Faust's aiokafka producer turn by turn. An offset committed while the write of the status
it covers was still queued there, by a worker killed at that moment, would leave the next owner of
the partition an order table without that status, and no record to fold it again from.

:func:`_commit_offsets` first waits until every write taken before the commit began has been
handed to aiokafka (writes made meanwhile do not hold it up), for at most :data:`DRAIN_SECONDS`.
If they are not by then, this commit is skipped (logged) and the next one tries again, as when
there is nothing to commit: the offsets stay where they were, and a next owner folds those
statuses again (a fold is idempotent, consumers/order_machine.py). Faust's own flush then waits
for aiokafka's batches. :func:`wait_for` names the writes of an app
(streams/runtime/faust_table.py ``order_table``). Installed by
:func:`streams.runtime.faust_fixes.apply`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from faust.transport.consumer import Consumer
from faust.types import TP

__all__ = ["DRAIN_SECONDS", "Writes", "install", "wait_for"]

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0  # how long a commit waits for the table writes before it is skipped
_WRITES = "_flexbridge_writes"  # a Faust app's table writes

_original_commit_offsets = Consumer._commit_offsets


class Writes(Protocol):
    """Table writes handed to Kafka by flexbridge (streams/runtime/changelog.py)."""

    taken: int  # writes taken in so far

    async def handed_over(self, count: int, seconds: float) -> bool:
        """Whether the first ``count`` are aiokafka's within ``seconds``."""
        ...


def wait_for(app: Any, writes: Writes) -> None:
    """Each commit of ``app``'s offsets first waits for ``writes``."""
    setattr(app, _WRITES, [*getattr(app, _WRITES, ()), writes])


async def _commit_offsets(
    self: Consumer, offsets: Mapping[TP, int], start_new_transaction: bool = True
) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    counts = [(writes, writes.taken) for writes in getattr(self.app, _WRITES, ())]
    for writes, count in counts:
        if not await writes.handed_over(count, max(0.0, deadline - loop.time())):
            log.warning(
                "table writes not handed to Kafka after %.0f s: offsets not committed yet", DRAIN_SECONDS
            )
            return False
    committed: bool = await _original_commit_offsets(self, offsets, start_new_transaction)
    return committed


def install() -> None:
    """Idempotent."""
    Consumer._commit_offsets = _commit_offsets  # type: ignore[method-assign]
