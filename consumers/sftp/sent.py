"""One uploaded batch file's records as the registry holds them (consumers/sftp/registry.py), and
their journal form: ``{"file", "uploadedAt", "answered", "records", "size", "failed"}``.

``records`` are the records still awaiting a result, ``failed`` those reported ``FAILED
no-batch-result`` (a row Flex writes later still finds its record), ``size`` how many the file
had (absent in entries written before it was kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, NamedTuple

import orjson

from schemas.codec import kept

__all__ = ["SentFile", "SentRecord", "Settled", "decode_entry", "encode_entry"]


class SentRecord(NamedTuple):  # a tuple: one per record uploaded, at a quarter of a frozen dataclass's cost
    sequence_number: int
    order_id: str
    event_id: str
    idempotency_key: str
    # the record's ``transaction`` amount (cents) and currency, for its PENDING status only
    # (consumers/flows.py ``amount_detail``): neither is kept in the journal
    amount: int | None = None
    currency: str | None = None

    def detail(self, file: str) -> dict[str, object]:
        """The ``detail`` of every OrderStatus about this record (PENDING, FAILED …), with its amount
        and currency while they are known (its PENDING: the journal keeps neither)."""
        detail: dict[str, object] = {
            "batchFile": file,
            "sequenceNumber": self.sequence_number,
            "idempotencyKey": self.idempotency_key,
        }
        if self.amount is not None:
            detail["amount"] = self.amount
        if self.currency is not None:
            detail["currency"] = self.currency
        return detail


_EMPTY: Final = b"[]"


def _pack(records: Iterable[SentRecord]) -> bytes:
    """Records as their journal JSON (``[[sequence, order, event, key], …]``, no amount), in bytes of
    their own size (``schemas.codec.kept``: about 2.5 times the JSON of a file's records otherwise)."""
    return kept(orjson.dumps([r[:4] for r in records]))


class Settled(Enum):
    """What a response row is to the registry (:meth:`BatchRegistry.classify`)."""

    NEW = "new"  # its record awaits a result (or the file is not known: nothing to check against)
    LATE = "late"  # its record was reported FAILED no-batch-result already
    REPEAT = "repeat"  # its record's result was published already
    UNKNOWN = "unknown"  # the file had no record of that sequence number


@dataclass(slots=True)
class SentFile:
    """A file's records still awaiting a result, which may take hours. They wait packed, as their
    journal JSON (about 110 bytes a record, where a dict of tuples of strings takes about 350), and
    are unpacked into a dict by sequence number when a result row or the timeout first needs them."""

    name: str
    uploaded_at: float
    packed: bytes = _EMPTY
    packed_count: int = 0  # records in ``packed``
    answered: bool = False  # its response file was processed (published)
    known_at: float = 0.0  # when this worker learned of it (not persisted)
    unpacked: dict[int, SentRecord] | None = None
    size: int | None = None  # records uploaded (None: not known, an entry written before it was kept)
    failed: dict[int, SentRecord] = field(default_factory=dict)  # reported FAILED no-batch-result

    @classmethod
    def of(
        cls,
        name: str,
        uploaded_at: float,
        records: list[SentRecord],
        *,
        answered: bool = False,
        known_at: float = 0.0,
        size: int | None = -1,
        failed: Iterable[SentRecord] = (),
    ) -> SentFile:
        count = len(records) if size == -1 else size
        late = {r.sequence_number: r for r in failed}
        return cls(name, uploaded_at, _pack(records), len(records), answered, known_at, None, count, late)

    @property
    def records(self) -> dict[int, SentRecord]:
        """The records still awaiting a result, by sequence number (unpacked on first use)."""
        if self.unpacked is None:
            self.unpacked = {r[0]: SentRecord(*r) for r in orjson.loads(self.packed)}
            self.packed, self.packed_count = _EMPTY, 0
        return self.unpacked

    @property
    def outstanding(self) -> int:
        """How many records await a result (without unpacking them)."""
        return self.packed_count if self.unpacked is None else len(self.unpacked)


def encode_entry(sent: SentFile) -> bytes:
    records = orjson.Fragment(sent.packed if sent.unpacked is None else _pack(sent.unpacked.values()))
    entry: dict[str, object] = {"file": sent.name, "uploadedAt": sent.uploaded_at, "answered": sent.answered}
    entry["records"] = records
    if sent.size is not None:
        entry["size"] = sent.size
    if sent.failed:
        entry["failed"] = orjson.Fragment(_pack(sent.failed.values()))
    return orjson.dumps(entry)


def decode_entry(raw: bytes) -> SentFile:
    """The file state written by :func:`encode_entry`; ValueError if it is not one."""
    try:
        data: Any = orjson.loads(raw)
        records = [SentRecord(int(s), str(o), str(e), str(k)) for s, o, e, k in data["records"]]
        failed = [SentRecord(int(s), str(o), str(e), str(k)) for s, o, e, k in data.get("failed", ())]
        size = data.get("size")
        return SentFile.of(
            str(data["file"]),
            float(data["uploadedAt"]),
            records,
            answered=bool(data["answered"]),
            size=None if size is None else int(size),
            failed=failed,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a batch registry entry ({type(exc).__name__})") from None
