"""Flex SFTP batch files: names, the JSON layout, the manifest and the batch response file.

Flex documents only part of the format (flex-api.md §4.2): an inbound file holds a header (``mid``
plus a bearer token) and at most 2000 records, each with a 1-based ``sequenceNumber``; transmit
files are named ``transmit_…``. Everything else here is flexbridge's choice, kept in this one
module so it can change in one place:

- data file ``{kind}_{topic}_p{partition:04d}_o{firstOffset:012d}_{merchant}.json`` (one merchant
  per file; the single-merchant settings' files leave ``_{merchant}`` out, as they always have),
  uploaded as ``.{name}.part`` and renamed into the inbound folder (a reader never sees a partial
  file);
- manifest ``{name}.manifest`` (JSON: record count, byte size, SHA-256 of the file and of its
  records), uploaded the same way just before the data file;
- response file ``{stem}.response.csv`` in the outbound folder, one row per record with the
  columns of :data:`RESPONSE_COLUMNS`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from core.errors import FlexbridgeError

__all__ = [
    "MANIFEST_SUFFIX",
    "MAX_RECORDS",
    "RESPONSE_COLUMNS",
    "RESPONSE_MAX_BYTES",
    "RESPONSE_SUFFIX",
    "BatchKind",
    "FileName",
    "MalformedResponse",
    "Manifest",
    "RecordsDigest",
    "ResultRow",
    "data_name",
    "encode_file",
    "file_name",
    "manifest_name",
    "parse_file_name",
    "parse_response",
    "record_bytes",
    "response_name",
    "safe_topic",
    "temp_name",
]

MAX_RECORDS = 2000
MANIFEST_SUFFIX = ".manifest"
RESPONSE_SUFFIX = ".response.csv"
RESPONSE_COLUMNS = (
    "sequenceNumber",
    "orderId",
    "idempotencyKey",
    "status",
    "orderSessionKey",
    "errorCode",
    "errorMessage",
)
# The most a response file can hold: one row per record, at most MAX_RECORDS. A row is a few
# hundred bytes (an orderId of at most 200 characters, schemas/events.py; a GUID; short codes);
# 8 KiB leaves room for a long errorMessage and CSV quoting. A larger file is no response of
# flexbridge's, and is not read into memory.
RESPONSE_MAX_BYTES = MAX_RECORDS * 8 * 1024
BatchKind = Literal["evaluate", "transmit"]

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")
_NAME = re.compile(
    r"^(evaluate|transmit)_(.+)_p(\d{4,})_o(\d{12,})(?:_([a-z0-9-]+))?(?:\.json|\.response\.csv)$"
)
_CAMEL = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)


def safe_topic(topic: str) -> str:
    """The topic as it appears in file names (anything but letters, digits, ``.`` and ``-`` → ``-``)."""
    return _UNSAFE.sub("-", topic)


def file_name(
    kind: BatchKind, topic: str, partition: int, first_offset: int, merchant: str | None = None
) -> str:
    """Deterministic: the same batch after a crash gets the same name and replaces its first upload.
    ``merchant`` is the merchant's name (None: the single-merchant settings' files, without one)."""
    suffix = f"_{merchant}" if merchant else ""
    return f"{kind}_{safe_topic(topic)}_p{partition:04d}_o{first_offset:012d}{suffix}.json"


class FileName(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: BatchKind
    topic: str  # as in the name (see safe_topic)
    partition: int
    first_offset: int
    merchant: str | None = None  # the merchant's name; None in a single-merchant file name


def parse_file_name(name: str) -> FileName | None:
    """The parts of a data or response file name, or None if it is not one of ours."""
    match = _NAME.match(name)
    if match is None:
        return None
    kind, topic, partition, offset, merchant = match.groups()
    return FileName(
        kind=kind, topic=topic, partition=int(partition), first_offset=int(offset), merchant=merchant
    )


def temp_name(name: str) -> str:
    return f".{name}.part"


def data_name(response: str) -> str:
    """The data file a response file answers."""
    return response.removesuffix(RESPONSE_SUFFIX) + ".json"


def manifest_name(name: str) -> str:
    return name + MANIFEST_SUFFIX


def response_name(name: str) -> str:
    return name.removesuffix(".json") + RESPONSE_SUFFIX


def record_bytes(body: dict[str, object], sequence_number: int) -> bytes:
    """One record of a batch file: the full request body plus its 1-based ``sequenceNumber``."""
    return orjson.dumps({**body, "sequenceNumber": str(sequence_number)})


def encode_file(header: dict[str, object], records: list[bytes] | bytearray) -> bytes:
    """``{"header": {...}, "records": [...]}`` from records already encoded by :func:`record_bytes`
    (a list, or one buffer of them already joined by commas)."""
    joined = records if isinstance(records, bytearray) else b",".join(records)
    return b"".join((b'{"header":', orjson.dumps(header), b',"records":[', joined, b"]}"))


class RecordsDigest:
    """The manifest's ``recordsSha256``: SHA-256 over each record followed by a newline."""

    __slots__ = ("_sha",)

    def __init__(self) -> None:
        self._sha = hashlib.sha256()

    def update(self, record: bytes) -> None:
        self._sha.update(record)
        self._sha.update(b"\n")

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


class Manifest(BaseModel):
    model_config = _CAMEL

    file: str
    kind: BatchKind
    records: int
    size: int  # bytes
    sha256: str
    records_sha256: str  # stable across re-uploads even when the header's token was refreshed
    topic: str
    partition: int
    first_offset: int
    last_offset: int

    @classmethod
    def of(cls, name: FileName, file: str, data: bytes, records: list[bytes], last_offset: int) -> Manifest:
        digest = RecordsDigest()
        for record in records:
            digest.update(record)
        return cls.of_digest(name, file, data, len(records), digest.hexdigest(), last_offset)

    @classmethod
    def of_digest(
        cls, name: FileName, file: str, data: bytes, count: int, records_sha256: str, last_offset: int
    ) -> Manifest:
        """As :meth:`of`, with the records' digest kept by the writer as it added them."""
        return cls(
            file=file,
            kind=name.kind,
            records=count,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            records_sha256=records_sha256,
            topic=name.topic,
            partition=name.partition,
            first_offset=name.first_offset,
            last_offset=last_offset,
        )

    def encode(self) -> bytes:
        return orjson.dumps(self.model_dump(by_alias=True), option=orjson.OPT_INDENT_2)


class ResultRow(BaseModel):
    """One row of a batch response file."""

    model_config = _CAMEL

    sequence_number: int = Field(ge=1)
    order_id: str
    idempotency_key: str = ""
    status: str
    order_session_key: str | None = None
    error_code: str = ""
    error_message: str = ""


class MalformedResponse(FlexbridgeError):
    """A response file that cannot be read; the reason names the problem without quoting data."""

    retriable = False
    reason = "bad-batch-response"


def parse_response(raw: bytes) -> list[ResultRow]:
    """Rows of a response file (UTF-8 CSV with the header of RESPONSE_COLUMNS)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedResponse("not UTF-8") from None
    try:
        return _rows(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:  # e.g. a field over csv's size limit; the message quotes no data
        raise MalformedResponse(f"not CSV: {exc}") from None


def _rows(reader: csv.DictReader[str]) -> list[ResultRow]:
    missing = [c for c in RESPONSE_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise MalformedResponse(f"missing columns: {', '.join(missing)}")
    rows: list[ResultRow] = []
    for line, row in enumerate(reader, start=2):
        try:
            rows.append(ResultRow.model_validate({k: row[k] for k in RESPONSE_COLUMNS if row.get(k)}))
        except ValidationError as exc:
            fields = ", ".join(str(e["loc"][0]) for e in exc.errors()[:3])
            raise MalformedResponse(f"line {line}: invalid {fields or 'row'}") from None
    return rows
