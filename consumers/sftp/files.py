"""Building one Flex batch file from a run of records of one partition and one merchant (pure, no I/O).

A :class:`BatchBuilder` collects request bodies in offset order. It is closed by its owner when it
holds ``max_records``, when the next record would take it past ``max_bytes``, or when it is older
than the wall-clock limit; :meth:`BatchBuilder.seal` then renders the file and its manifest with
the bearer token of the moment. A file holds one merchant's records, each event once (its owner
asks :meth:`BatchBuilder.holds` before adding one): its header carries that
merchant's ``mid`` (given when the builder opens; else the first record's) and token, and its
name the merchant's name (``merchant``; None for the single-merchant settings).

The encoded records are appended to one buffer (joined by commas, as they appear in the file)
rather than kept as separate ``bytes``: orjson's output keeps the capacity it reserved (about
8 KB for a 1.2 KB record), so thousands of held records would cost several times their size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consumers.flows import amount_detail
from consumers.sftp.registry import SentRecord
from core.merchants import SINGLE_MERCHANT_NAME, Merchant, Merchants
from schemas.batch import (
    BatchKind,
    FileName,
    Manifest,
    RecordsDigest,
    encode_file,
    file_name,
    manifest_name,
    record_bytes,
    temp_name,
)

__all__ = ["BatchBuilder", "SealedBatch", "file_merchant"]

_ENVELOPE = 64  # bytes of header and punctuation around the records, before the token


def file_merchant(merchant: Merchant, merchants: Merchants) -> str | None:
    """The merchant's name in its file names; None for the single-merchant settings' merchant,
    whose files keep the names they always had (a re-upload after an upgrade replaces, too)."""
    return None if merchant.name == SINGLE_MERCHANT_NAME and len(merchants) == 1 else merchant.name


@dataclass(frozen=True, slots=True)
class SealedBatch:
    name: str
    data: bytes
    manifest: Manifest

    @property
    def temp(self) -> str:
        return temp_name(self.name)

    @property
    def manifest_name(self) -> str:
        return manifest_name(self.name)


@dataclass(slots=True)
class BatchBuilder:
    kind: BatchKind
    topic: str
    partition: int
    first_offset: int
    opened_at: float
    merchant: str | None = None  # the merchant's name in the file name (None: single-merchant)
    mid: str | None = None  # the header's mid: the merchant's, else the first record's
    expiry: str | None = None
    last_offset: int = -1
    size: int = _ENVELOPE
    count: int = 0
    records: bytearray = field(default_factory=bytearray)  # encoded records joined by commas
    digest: RecordsDigest = field(default_factory=RecordsDigest)
    sent: list[SentRecord] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)  # every record's, for the ledger
    ids: set[str] = field(default_factory=set)  # the same, to ask whether the file holds one

    @property
    def name(self) -> str:
        return file_name(self.kind, self.topic, self.partition, self.first_offset, self.merchant)

    def __len__(self) -> int:
        return self.count

    def holds(self, event_id: str) -> bool:
        """Whether the file has a record of event ``event_id`` (of its idempotency key) already."""
        return event_id in self.ids

    def fits(self, body: dict[str, Any], max_bytes: int) -> bytes | None:
        """The encoded record if it fits (a first record always fits), else None."""
        raw = record_bytes(body, self.count + 1)
        if self.count and self.size + len(raw) + 1 > max_bytes:
            return None
        return raw

    def add(self, offset: int, raw: bytes, body: dict[str, Any], event_id: str) -> None:
        if self.count:
            self.records += b","
        self.records += raw
        self.digest.update(raw)
        self.count += 1
        self.size += len(raw) + 1
        self.last_offset = offset
        self.event_ids.append(event_id)
        self.ids.add(event_id)
        if self.mid is None and isinstance(body.get("mid"), str):
            self.mid = body["mid"]
        if self.expiry is None and isinstance(body.get("expiryDateUtc"), str):
            self.expiry = body["expiryDateUtc"]  # the first record's window is the file's default
        if self.kind == "evaluate":
            key, told = str(body.get("idempotencyKey", "")), amount_detail(body.get("transaction"))
            order_id = str(body.get("orderId", ""))
            sent = SentRecord(self.count, order_id, event_id, key, told.get("amount"), told.get("currency"))
            self.sent.append(sent)

    def header(self, token: str) -> dict[str, object]:
        if self.kind == "transmit":
            return {"mid": self.mid, "authorization": f"Bearer {token}"}
        return {"mid": self.mid, "authorizationToken": token, "expiryDateUtc": self.expiry}

    def seal(self, token: str) -> SealedBatch:
        data = encode_file(self.header(token), self.records)
        name = FileName(
            kind=self.kind,
            topic=self.topic,
            partition=self.partition,
            first_offset=self.first_offset,
            merchant=self.merchant,
        )
        manifest = Manifest.of_digest(
            name, self.name, data, self.count, self.digest.hexdigest(), self.last_offset
        )
        return SealedBatch(self.name, data, manifest)
