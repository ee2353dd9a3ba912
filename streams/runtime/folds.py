"""How far the order-state agent has folded ``orders.status``, so that a command read before the
statuses of its order can wait for them (streams/runtime/commands.py).

The order-state agent folds a status a moment after it is published, and more than a moment when
a worker starts or takes partitions over at a rebalance: it then folds the statuses published
since the last commit of ``orders.status`` while its command agent already reads
``orders.commands``. A command can so reach a table that is behind its order: with several
merchants, one without ``mid`` that finds no entry for its order has no merchant ("its merchant is
not known"); and a command the order's state as it stands would refuse (a refund sent the instant
a downstream service read ``APPROVED``) may be refused for a status already read and not folded.
Answered then, it was REJECTED, and answered again differently if it was read again. Such a
command waits (:meth:`Folds.wait`) until the agent has folded its partition of ``orders.status``
up to where that partition ended then, by its last fetch (streams/kafka/ends.py ``fetched_end``),
or for at most :data:`WAIT_SECONDS`. A partition already folded to its end, as it is in steady
state, answers at once; a command the state allows never waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["WAIT_SECONDS", "Ends", "Folds"]

WAIT_SECONDS = 10.0  # the most a command waits for the statuses read before it
_EVERY = 0.05  # how often the wait looks again

# a partition of orders.status → (its end by the last fetch, None before one; its committed offset)
Ends = Callable[[int], tuple[int | None, int]]


class Folds:
    """The offset past the last status the agent folded, by partition of ``orders.status``."""

    def __init__(self, ends: Ends | None = None) -> None:
        self.ends = ends  # set once the Faust app is built (streams/runtime/orders.py)
        self._folded: dict[int, int] = {}

    def folded(self, partition: int, offset: int) -> None:
        """The agent folded the status at ``offset`` of ``partition``."""
        self._folded[partition] = offset + 1

    async def wait(self, partition: int, found: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
        """Until ``found()``, or until ``partition`` is folded (or committed) up to the end it had
        when first known here, or ``timeout`` seconds. Revoked meanwhile (a rebalance waits for the
        commands in flight), the statuses already read may still be folded: it waits on."""
        if self.ends is None:
            return
        deadline = time.monotonic() + timeout
        target: int | None = None
        while not found() and time.monotonic() < deadline:
            end, committed = self.ends(partition)
            target = end if target is None else target
            if target is not None and max(self._folded.get(partition, 0), committed) >= target:
                return
            await asyncio.sleep(_EVERY)
