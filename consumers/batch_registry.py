"""Which records went out in which evaluate batch file, until Flex's response file accounts for them.

The batch writer adds a file once it is uploaded; the result poller matches response rows against
it; records still unmatched after the result timeout are handed back as missing. Pure and in
memory: a worker knows the files it uploaded itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["BatchRegistry", "SentFile", "SentRecord"]


@dataclass(frozen=True, slots=True)
class SentRecord:
    sequence_number: int
    order_id: str
    event_id: str
    idempotency_key: str


@dataclass(slots=True)
class SentFile:
    name: str
    uploaded_at: float
    records: dict[int, SentRecord] = field(default_factory=dict)


class BatchRegistry:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._files: dict[str, SentFile] = {}

    def add(self, name: str, records: list[SentRecord]) -> None:
        """Record an upload; a re-upload of the same name replaces the earlier entry."""
        self._files[name] = SentFile(name, self._clock(), {r.sequence_number: r for r in records})

    def match(self, name: str, sequence_number: int) -> SentRecord | None:
        """The record behind a result row (and forget it), or None if this worker does not know it."""
        sent = self._files.get(name)
        if sent is None:
            return None
        record = sent.records.pop(sequence_number, None)
        if not sent.records:
            del self._files[name]
        return record

    def overdue(self, timeout: float) -> list[tuple[str, SentRecord]]:
        """Forget and return every record uploaded more than ``timeout`` seconds ago without a result."""
        limit = self._clock() - timeout
        late = [name for name, sent in self._files.items() if sent.uploaded_at <= limit]
        out: list[tuple[str, SentRecord]] = []
        for name in late:
            out.extend((name, record) for record in self._files.pop(name).records.values())
        return out

    def forget(self, predicate: Callable[[str], bool]) -> None:
        """Drop files whose name matches (their partition moved to another worker)."""
        for name in [n for n in self._files if predicate(n)]:
            del self._files[name]

    @property
    def outstanding(self) -> int:
        return sum(len(f.records) for f in self._files.values())

    def __len__(self) -> int:
        return len(self._files)
