"""When each merchant's outbound folder is polled (pure: the caller passes the time).

Hundreds of merchants must not all poll at once: a merchant's first poll comes at an offset
within the poll interval given by a hash of its name (stable across restarts and workers), and
every later one an interval after its last. A merchant with nothing outstanding (no file awaiting
a result, no recent upload) is polled every ``idle_interval`` instead: its response folder can
only hold what an earlier life left, so it costs a connection a minute rather than a permanent one.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

__all__ = ["PollSchedule", "stagger"]


def stagger(name: str, interval: float) -> float:
    """The offset of ``name``'s first poll within ``interval`` (in [0, interval))."""
    return zlib.crc32(name.encode()) / 2**32 * interval


class PollSchedule:
    def __init__(self, interval: float, idle_interval: float) -> None:
        self._interval = interval
        self._idle = max(idle_interval, interval)
        self._due: dict[str, float] = {}

    def add(self, names: Iterable[str], now: float) -> None:
        """Schedule the first poll of each new merchant at its staggered offset from ``now``."""
        for name in names:
            self._due.setdefault(name, now + stagger(name, self._interval))

    def due(self, now: float) -> list[str]:
        """The merchants whose poll is due at ``now``, the longest waiting first."""
        ready = [(at, name) for name, at in self._due.items() if at <= now]
        return [name for _, name in sorted(ready)]

    def polled(self, name: str, now: float, *, active: bool) -> None:
        """``name`` was polled at ``now``: next in one interval if active, else the idle interval."""
        self._due[name] = now + (self._interval if active else self._idle)

    def hurry(self, name: str, now: float) -> None:
        """``name`` became active (a file went up): poll it within one interval, not the idle one."""
        if name in self._due:
            self._due[name] = min(self._due[name], now + self._interval)

    def next_at(self) -> float | None:
        """When the next poll is due (None: no merchant)."""
        return min(self._due.values(), default=None)
