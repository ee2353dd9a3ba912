"""How late the worker's one event loop runs what is due: ``flexbridge_event_loop_lag_seconds``.

Every record, webhook, command and Kafka request of a worker is a callback on one asyncio loop. A
callback that holds the loop (a long computation, a garbage collection, a machine out of CPU) delays
every other one, and a real-time decline's decision waits behind it. :func:`probe_lag` sleeps
:data:`EVERY_SECONDS` again and again and observes by how much each wake-up came later than due:
a few tenths of a millisecond on a quiet loop. A stall is seen when it covers a wake-up, so one
shorter than the interval may be missed; stalls that matter to a decision's tail recur, and the
histogram shows them. Ten wake-ups a second cost the loop next to nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["EVERY_SECONDS", "probe_lag"]

EVERY_SECONDS = 0.1


async def probe_lag(observe: Callable[[float], None], every: float = EVERY_SECONDS) -> None:
    """Observe each wake-up's delay past its due time, in seconds, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + every
        await asyncio.sleep(every)
        observe(max(0.0, loop.time() - due))
