"""A table recovery that stops making progress starts again, as a rebalance would start it.

Faust runs no agent until the order table's recovery has read every active changelog partition to
the end it found (``faust.tables.recovery.Recovery._restart_recovery``): until then no command is
answered and no status folded. In faust-streaming 0.15.3 that recovery can wait for ever:

* a step (the changelog ends, the earliest offsets, a seek, the flush) awaited longer than Faust's
  ``broker_request_timeout`` (90 s) ends the recovery task for good. mode's ``wait_first`` reports
  a timeout as the service stopping, so ``Recovery._wait`` raises ``ServiceStopped`` and the task's
  loop leaves. :func:`_wait` starts the recovery again instead;
* Faust's loop takes an ``IllegalStateError`` (a partition not assigned, meaning a rebalance is
  under way) for another rebalance and waits for it; if that rebalance's call is dropped as stale
  (``on_rebalance`` of an older generation), nothing wakes it;
* records of an active partition fetched and never delivered to the recovery: nothing seeks them
  back.

Each of the three fits a stall seen once, a worker left alone after a takeover that read nothing
of the four partitions it had held as standby copies (docs/chaos.md).

:class:`RecoveryWatch` looks every five seconds. A recovery with records left to read that has
received none for 30 s (Faust's own ``event_timeout_secs``, after which it only logs "No event
received") is started again through Faust's own signal for a new rebalance: Faust applies what it
buffered, finds the ends and offsets again, seeks every active partition to the last record it
applied, and reads on. Each restart is logged with the consumer's state (the ``kill -USR1`` dump)
and where Faust's recovery loop waits, and counted (``flexbridge_table_recovery_restarts_total``). A
recovery that still makes no progress is started again after 60 s, then 90 s, … up to every five
minutes, so a slow cluster is not interrupted in a loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import monotonic
from typing import Any
from weakref import WeakKeyDictionary

from faust.tables.recovery import RebalanceAgain, Recovery, ServiceStopped
from mode import Service
from mode.services import WaitArgT

from streams.runtime.logs import log_consumer, log_task_running

__all__ = ["PATIENCE_SECONDS", "RecoveryWatch", "install", "overdue"]

log = logging.getLogger(__name__)

PATIENCE_SECONDS = 30.0  # Faust's Recovery.event_timeout_secs
_MOST_PATIENCE_SECONDS = 300.0

_counters: WeakKeyDictionary[Any, Callable[[], None]] = WeakKeyDictionary()  # by Faust app: the metric


async def _wait(self: Recovery, coro: WaitArgT, timeout: Any = None) -> None:
    """Faust's ``Recovery._wait``, with a step that timed out starting the recovery again."""
    signal = self.signal_recovery_start
    result = await self.wait_first(coro, signal, timeout=timeout)  # type: ignore[arg-type]
    if result.stopped and not self.should_stop:  # mode reports its timeout as a stop
        log.warning("order table recovery: a step took more than %s s; starting the recovery again", timeout)
        _count(self.app)
        signal.set()
        raise RebalanceAgain()
    if result.stopped:
        raise ServiceStopped()
    if signal in result.done:  # type: ignore[comparison-overlap]  # mode's types omit asyncio's Event
        raise RebalanceAgain()


def _count(app: Any) -> None:
    """One more restart in ``app``'s metric (none before its watch is made)."""
    if (counted := _counters.get(app)) is not None:
        counted()


def overdue(recovery: Recovery, now: float, patience: float) -> bool:
    """``recovery`` has records left to read and has received none for ``patience`` seconds (counted
    from its start when it has received none at all)."""
    started = recovery._recovery_started_at
    if not recovery.in_recovery or started is None or not recovery.need_recovery():
        return False
    last = max(recovery._active_events_received_at.values(), default=started)
    return now - max(started, last) >= patience


class RecoveryWatch(Service):
    """Starts the Faust app's table recovery again when it is :func:`overdue`."""

    def __init__(self, faust_app: Any, counted: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.faust_app = faust_app
        _counters[faust_app] = counted  # the metric: a timed-out step's restarts count there too
        self.restarts = 0  # since the recovery last made progress

    @Service.timer(5.0)
    async def _look(self) -> None:
        self.check(monotonic())

    def check(self, now: float) -> bool:
        """Start the recovery again if it is overdue; True if it was."""
        recovery = self.faust_app.tables.recovery
        patience = min(PATIENCE_SECONDS * (self.restarts + 1), _MOST_PATIENCE_SECONDS)
        if not overdue(recovery, now, patience):
            if not recovery.in_recovery or recovery._active_events_received_at:
                self.restarts = 0
            return False
        remaining = sorted((tp.topic, tp.partition) for tp, n in recovery.active_remaining().items() if n > 0)
        log.warning(
            "order table recovery: no record for %.0f s with %s left to read; starting it again",
            patience,
            remaining,
        )
        log_consumer(self.faust_app)
        log_task_running("_restart_recovery")  # Faust's recovery loop: a step, the records, or a rebalance
        self.restarts += 1
        _count(self.faust_app)
        recovery.signal_recovery_start.set()
        return True


def install() -> None:
    Recovery._wait = _wait  # type: ignore[method-assign]
