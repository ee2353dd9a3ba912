"""Which records went out in which evaluate batch file, until Flex's response file accounts for them.

The uploader adds a file and persists it just before its rename into the inbound folder; a worker
that takes over a file recorded but never renamed discards its entry (:meth:`BatchRegistry.discard`).
The result poller settles response rows against it, record by record (a response file missing
rows answers only those it has); records still unmatched after the result timeout are handed back
as missing and kept as *failed*, so a row Flex writes later still finds its record.

The registry is pure; durability comes from an optional :class:`RegistryJournal` (in flexbridge a
compacted Kafka topic, streams/runtime/batch/store.py) that receives the file's whole state, encoded by
:func:`encode_entry`, after every change, and from which a worker that takes over a partition
rebuilds the entries with :meth:`BatchRegistry.restore`. A settled file stays known (with no
records) so a response file processed twice — a claim reclaimed from a dead worker, or Flex writing
the complete file after a partial one — publishes only rows not published before. Times are
wall-clock seconds, so they survive a restart. The entries themselves: consumers/sftp/sent.py.

One registry serves every merchant: a file's name carries its merchant (schemas/batch.py), and the
result poller of each merchant's outbound folder reconciles that merchant's files alone
(``merchant=`` of :meth:`BatchRegistry.overdue`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum
from typing import Final, Protocol

from consumers.sftp.sent import SentFile, SentRecord, Settled, decode_entry, encode_entry
from schemas.batch import parse_file_name

__all__ = [
    "ANY",
    "AnyMerchant",
    "BatchRegistry",
    "RegistryJournal",
    "SentFile",
    "SentRecord",
    "Settled",
    "decode_entry",
    "encode_entry",
    "merchant_of",
]


class AnyMerchant(Enum):
    ANY = "any"


ANY: Final = AnyMerchant.ANY  # every merchant's files


def merchant_of(name: str) -> str | None:
    """The merchant a batch file name carries (None: a single-merchant name, or not ours)."""
    parsed = parse_file_name(name)
    return None if parsed is None else parsed.merchant


class RegistryJournal(Protocol):
    async def write(self, name: str, partition: int, entry: bytes | None) -> None:
        """Store the file's state (None: forget the file)."""


class BatchRegistry:
    def __init__(
        self, clock: Callable[[], float] = time.time, journal: RegistryJournal | None = None
    ) -> None:
        self._clock = clock
        self._journal = journal
        self._files: dict[str, SentFile] = {}

    def add(self, name: str, records: list[SentRecord]) -> None:
        """Record an upload; a re-upload of the same name replaces the earlier entry."""
        now = self._clock()
        self._files[name] = SentFile.of(name, now, records, known_at=now)

    def restore(self, sent: SentFile) -> bool:
        """An entry read back from the journal (a restart, or a partition taken over); whether it
        was not known yet (a retried read of the same partitions restores nothing new)."""
        sent.known_at = self._clock()
        new = sent.name not in self._files
        self._files[sent.name] = sent
        return new

    async def persist(self, name: str) -> None:
        """Write the file's current state to the journal (no-op without one, or if unknown)."""
        sent = self._files.get(name)
        parsed = parse_file_name(name)
        if self._journal is None or sent is None or parsed is None:
            return
        await self._journal.write(name, parsed.partition, encode_entry(sent))

    def answered(self, name: str) -> bool:
        """True once the file's response was processed: a second processing publishes nothing."""
        sent = self._files.get(name)
        return sent is not None and sent.answered

    def lookup(self, name: str, sequence_number: int) -> SentRecord | None:
        """The record behind a result row, still outstanding (see :meth:`match`)."""
        sent = self._files.get(name)
        return None if sent is None else sent.records.get(sequence_number)

    def match(self, name: str, sequence_number: int) -> SentRecord | None:
        """The record behind a result row (and forget it), or None if this worker does not know it."""
        sent = self._files.get(name)
        return None if sent is None else sent.records.pop(sequence_number, None)

    def classify(self, name: str, sequence_number: int) -> tuple[Settled, SentRecord | None]:
        """What a response row of file ``name`` is, and its record (nothing changes: see :meth:`settle`)."""
        sent = self._files.get(name)
        if sent is None:
            return Settled.NEW, None
        record = sent.records.get(sequence_number)
        if record is not None:
            return Settled.NEW, record
        late = sent.failed.get(sequence_number)
        if late is not None:
            return Settled.LATE, late
        if sent.size is not None and not 1 <= sequence_number <= sent.size:
            return Settled.UNKNOWN, None
        return Settled.REPEAT, None

    def settle(self, name: str, sequence_number: int) -> None:
        """The row's status was published: its record awaits nothing more (nor a late row)."""
        sent = self._files.get(name)
        if sent is not None:
            sent.records.pop(sequence_number, None)
            sent.failed.pop(sequence_number, None)

    def left(self, name: str) -> int:
        """How many of file ``name``'s records still await a result (0 if unknown)."""
        sent = self._files.get(name)
        return 0 if sent is None else sent.outstanding

    def mark_answered(self, name: str) -> None:
        """The response file was processed (remembered even for a file this worker never knew)."""
        sent = self._files.setdefault(name, SentFile(name, self._clock()))
        sent.answered = True

    def overdue(
        self, timeout: float, polled_at: float | None = None, *, merchant: str | AnyMerchant | None = ANY
    ) -> list[tuple[str, SentRecord]]:
        """Take and return every record without a result whose ``timeout`` had passed by ``polled_at``.

        ``polled_at``: the start of the last successful look at the response folder (None: now).
        Only a look that began after a record's deadline could find no result for it, so an outage
        of the folder fails nothing; and only files this worker knew by then (a file restored later
        may have its response waiting, unread). With ``merchant`` (a name, or None for
        single-merchant file names), only that merchant's files.
        """
        limit = (self._clock() if polled_at is None else polled_at) - timeout
        out: list[tuple[str, SentRecord]] = []
        for sent in self._files.values():
            if polled_at is not None and sent.known_at >= polled_at:
                continue
            if merchant is not ANY and merchant_of(sent.name) != merchant:
                continue
            if sent.outstanding and sent.uploaded_at <= limit:
                out.extend((sent.name, record) for record in sent.records.values())
                sent.failed.update(sent.records)
                sent.records.clear()
        return out

    def put_back(self, taken: list[tuple[str, SentRecord]]) -> None:
        """Undo :meth:`overdue` (its FAILED statuses could not be published)."""
        for name, record in taken:
            if name in self._files:
                self._files[name].records[record.sequence_number] = record
                self._files[name].failed.pop(record.sequence_number, None)

    async def prune(self, older_than: float) -> int:
        """Forget files with nothing outstanding uploaded more than ``older_than`` seconds ago."""
        limit = self._clock() - older_than
        old = [f.name for f in self._files.values() if not f.outstanding and f.uploaded_at <= limit]
        for name in old:
            del self._files[name]
            parsed = parse_file_name(name)
            if self._journal is not None and parsed is not None:
                await self._journal.write(name, parsed.partition, None)
        return len(old)

    async def discard(self, name: str) -> bool:
        """Forget file ``name`` for good, in the journal too (it never reached Flex); False if unknown."""
        if name not in self._files:
            return False
        parsed = parse_file_name(name)
        if self._journal is not None and parsed is not None:
            await self._journal.write(name, parsed.partition, None)
        self._files.pop(name, None)
        return True

    def forget(self, predicate: Callable[[str], bool]) -> None:
        """Drop files whose name matches (their partition moved to another worker)."""
        for name in [n for n in self._files if predicate(n)]:
            del self._files[name]

    def waiting(self) -> set[str | None]:
        """The merchants (names; None for single-merchant names) with records still awaiting a result."""
        return {merchant_of(f.name) for f in self._files.values() if f.outstanding}

    @property
    def outstanding(self) -> int:
        return sum(f.outstanding for f in self._files.values())

    def __len__(self) -> int:
        """Files with records still waiting for a result."""
        return sum(1 for f in self._files.values() if f.outstanding)
