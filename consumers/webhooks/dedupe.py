"""The webhook receiver's memory of what it already published: dedupe keys seen within a window.

Pure (the caller passes the time); the Kafka side fills it from its own publications and from the
``flex.webhooks`` topic (see ``streams/runtime/webhooks.py``).
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["SeenKeys"]


class SeenKeys:
    """Dedupe keys, each remembered ``window_seconds`` after it was published; at most ``max_entries``
    (oldest insertion out first)."""

    def __init__(self, *, window_seconds: float, max_entries: int) -> None:
        if window_seconds <= 0 or max_entries < 1:
            raise ValueError("the dedupe window and size must be positive")
        self._window = window_seconds
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, key: str, at: float) -> None:
        """Remember ``key`` as published at ``at`` (epoch seconds); a later time wins."""
        previous = self._seen.pop(key, None)
        self._seen[key] = at if previous is None else max(previous, at)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)

    def seen(self, key: str, now: float) -> bool:
        """True if ``key`` was published within the window before ``now``."""
        self._trim(now)
        at = self._seen.get(key)
        return at is not None and at > now - self._window

    def _trim(self, now: float) -> None:
        horizon = now - self._window
        while self._seen and next(iter(self._seen.values())) <= horizon:
            self._seen.popitem(last=False)
