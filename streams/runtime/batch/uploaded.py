"""The files uploaded past a partition's committed offset, kept where the next owner finds them.

A partition's commit never passes the first record of a file not uploaded yet, whichever its
merchant. So when one merchant's file goes up while another merchant's older file is still open,
the uploaded file's records lie past the commit, and the next owner of the partition reads them
again. Were it to build them into a file again, that file would start at a later offset, so it
would have another name: a ``transmit_`` record would reach Flex twice.

The same holds for a file whose upload ends in a crash before the commit: if Flex has taken it
from the inbound folder by then, a second upload under the same name submits its records again.

So before each file is renamed into the inbound folder (where Flex can take it), the consumer
records the offset ranges (first and last record) of each merchant's files at or past the
committed offset, with the name of the file being renamed, as JSON
(``{"acme": [[12, 40, "evaluate_….json"]]}``; a range without a name is an older record's), in the
durable registry's compacted topic (store.py) under the key ``uploaded:<topic>:<partition>``. The
next owner reads them with the registry when it is assigned the partition, drops the range of a
file whose temporary ``.NAME.part`` it finds and removes before any late rename of it lands (the
rename never happened, and now never can: reclaim.py), and skips a merchant's records inside the
ranges left: a merchant's file holds every record of that merchant on the partition between its
first and its last (a merchant has one open file per partition, filled in offset order).
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

import orjson
from aiokafka import TopicPartition

from schemas.batch import safe_topic

__all__ = ["KEY_PREFIX", "Span", "Uploaded", "UploadedJournal", "key_of", "partition_of_key"]

log = logging.getLogger(__name__)

KEY_PREFIX: Final = "uploaded:"


def key_of(topic: str, partition: int) -> str:
    """The store key of a source partition's uploaded ranges."""
    return f"{KEY_PREFIX}{safe_topic(topic)}:{partition}"


def partition_of_key(key: str) -> tuple[str, int] | None:
    """``(safe topic, partition)`` of a key made by :func:`key_of` (None: another key)."""
    if not key.startswith(KEY_PREFIX):
        return None
    topic, _, partition = key.removeprefix(KEY_PREFIX).rpartition(":")
    return (topic, int(partition)) if topic and partition.isdigit() else None


class UploadedJournal(Protocol):
    def uploaded_of(self, tp: TopicPartition) -> Uploaded:
        """The ranges recorded for ``tp`` (read back when it was assigned)."""

    async def write_uploaded(self, tp: TopicPartition, encoded: str) -> None:
        """Record ``tp``'s ranges (``""``: none left)."""


Span = tuple[int, int, str | None]  # first and last offset, and the file's name when it is known


class Uploaded:
    """One partition's uploaded files past its commit, by merchant name: ``(first, last, name)``."""

    __slots__ = ("_ranges",)

    def __init__(self, ranges: dict[str, list[Span]] | None = None) -> None:
        self._ranges = ranges or {}

    @classmethod
    def decode(cls, encoded: str | bytes | None) -> Uploaded:
        """The ranges :meth:`encode` wrote (none for an empty or unreadable value)."""
        if not encoded:
            return cls()
        try:
            data = orjson.loads(encoded)
            ranges = {str(merchant): [_span(*s) for s in spans] for merchant, spans in data.items()}
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            log.warning("uploaded batch file ranges ignored: not readable")
            return cls()
        return cls(ranges)

    def add(self, merchant: str, first: int, last: int, name: str | None = None) -> None:
        spans = self._ranges.setdefault(merchant, [])
        if (first, last, name) not in spans:  # an upload tried again records its range once
            spans.append((first, last, name))

    def named(self) -> list[tuple[str, str]]:
        """``(merchant, file name)`` of every range recorded with its file's name."""
        return [(m, name) for m, spans in self._ranges.items() for *_, name in spans if name is not None]

    def drop(self, merchant: str, name: str) -> None:
        """Forget the range of file ``name`` (it never reached the inbound folder)."""
        kept = [s for s in self._ranges.get(merchant, ()) if s[2] != name]
        if kept:
            self._ranges[merchant] = kept
        else:
            self._ranges.pop(merchant, None)

    def span_at(self, merchant: str, offset: int) -> Span | None:
        """The range of ``merchant``'s file already uploaded that holds its record at ``offset``."""
        spans = self._ranges.get(merchant)  # asked for every record: mostly none
        return None if spans is None else next((s for s in spans if s[0] <= offset <= s[1]), None)

    def encode(self, committed: int) -> str:
        """The ranges not wholly before ``committed`` (the others are forgotten); ``""`` if none."""
        self._ranges = {
            merchant: kept
            for merchant, spans in self._ranges.items()
            if (kept := [s for s in spans if s[1] >= committed])
        }
        if not self._ranges:
            return ""
        encoded = {m: [list(s) if s[2] else list(s[:2]) for s in spans] for m, spans in self._ranges.items()}
        return orjson.dumps(encoded).decode()


def _span(first: int, last: int, name: str | None = None) -> Span:
    return (int(first), int(last), None if name is None else str(name))
