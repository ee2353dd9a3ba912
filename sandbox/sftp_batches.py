"""How the sandbox processes inbound batch files, the way Flex would.

A closed file in ``inbound/`` (``evaluate_*.json`` / ``transmit_*.json``, never a dot-file still
being uploaded) is validated like the API validates a request — header (``mid``, a valid bearer
token, the default ``expiryDateUtc``; with a merchants file, ``mid`` and token must be the SFTP
account's merchant's), at most 2000 records, each with its 1-based
``sequenceNumber`` and the fields /evaluate requires — and its records become orders through the
same idempotent path as ``POST /v1/evaluate`` (a re-uploaded file creates no second order). A
response file ``<stem>.response.csv`` is written to ``outbound/`` (temporary name, then rename),
the inbound file moves to ``inbound/processed/``, and ``settle_seconds`` later each order still
``SUBMITTED`` becomes ``APPROVED`` (card on the approve-list) or ``EXPIRED`` through the OrderBook.

The file format mirrors flexbridge's ``schemas/batch.py`` (the sandbox imports nothing from it:
it stands for the outside service).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from pathlib import Path
from typing import Any

import orjson

from .api_evaluate import _evaluate, card_facts
from .idempotency import fingerprint, run_idempotent
from .merchants import Merchant
from .state import SandboxState
from .validation import TRANSMIT, Errors, check, evaluate_errors, parse_datetime
from .wire import JsonObject, fold

__all__ = ["COLUMNS", "MAX_RECORDS", "process_file", "ready_files"]

MAX_RECORDS = 2000
YIELD_EVERY = 100  # records taken in between two turns of the event loop
COLUMNS = (
    "sequenceNumber",
    "orderId",
    "idempotencyKey",
    "status",
    "orderSessionKey",
    "errorCode",
    "errorMessage",
)
Row = dict[str, Any]


def ready_files(inbound: Path) -> list[Path]:
    """Closed batch files waiting in ``inbound``, oldest first."""
    names = [
        p
        for p in inbound.iterdir()
        if p.is_file() and p.name.startswith(("evaluate_", "transmit_")) and p.name.endswith(".json")
    ]
    return sorted(names, key=lambda p: (p.stat().st_mtime, p.name))


def _summary(errors: Errors) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())


def _header_token(kind: str, h: JsonObject) -> Any:
    token = h.get("authorizationtoken") if kind == "evaluate" else str(h.get("authorization") or "")
    if kind == "transmit" and isinstance(token, str):
        token = token.removeprefix("Bearer ").removeprefix("bearer ")
    return token


def _header_errors(state: SandboxState, kind: str, header: Any, merchant: Merchant) -> str | None:
    if not isinstance(header, dict):
        return "the file has no header object"
    h = fold(header)
    if not isinstance(h.get("mid"), str) or not h["mid"].strip():
        return "header.mid is required"
    token = _header_token(kind, h)
    token_mid = state.tokens.mid_of(token) if isinstance(token, str) else None
    if token_mid is None:
        return "header authorization token is missing, invalid or expired"
    if kind == "evaluate" and parse_datetime(h.get("expirydateutc")) is None:
        return "header.expiryDateUtc is required (ISO-8601 date-time)"
    owner = f"another merchant than this SFTP account's ({merchant.name})"
    if state.merchants.strict and h["mid"].strip().lower() != merchant.mid.lower():
        return f"header.mid belongs to {owner}"
    if state.merchants.strict and token_mid.lower() != merchant.mid.lower():
        return f"header authorization token belongs to {owner}"
    return None


def _parse(state: SandboxState, kind: str, raw: bytes, merchant: Merchant) -> tuple[list[Any], str | None]:
    """The records and a file-level error (then every record is refused)."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return [], "the file is not valid JSON"
    if not isinstance(document, dict) or not isinstance(document.get("records"), list):
        return [], "the file must be an object with a records array"
    records: list[Any] = document["records"]
    if not 1 <= len(records) <= MAX_RECORDS:
        return records, f"a batch holds 1 to {MAX_RECORDS} records, this one {len(records)}"
    return records, _header_errors(state, kind, document.get("header"), merchant)


def _row(seq: int, body: JsonObject, status: str, **extra: Any) -> Row:
    return {
        "sequenceNumber": seq,
        "orderId": body.get("orderid") or "",
        "idempotencyKey": body.get("idempotencykey") or "",
        "status": status,
        **extra,
    }


def _evaluate_record(
    state: SandboxState, seq: int, body: JsonObject, settle: list[tuple[str, str | None]]
) -> Row:
    errors = evaluate_errors(body)
    if errors:
        return _row(seq, body, "REJECTED", errorCode="ValidationFailed", errorMessage=_summary(errors))
    key = str(body["idempotencykey"])
    response = run_idempotent(
        state.idempotency, key, fingerprint("evaluate", None, body), lambda: _evaluate(state, body)
    )
    answer = orjson.loads(bytes(response.body)) if isinstance(response.body, (bytes, bytearray)) else {}
    if response.status >= 400:
        return _row(
            seq,
            body,
            "REJECTED",
            errorCode=str(answer.get("code") or response.status),
            errorMessage="idempotency key reused with a different request",
        )
    settle.append((answer["orderSessionKey"], card_facts(state, body)["last4"]))
    return _row(seq, body, str(answer["status"]), orderSessionKey=answer["orderSessionKey"])


def _foreign(state: SandboxState, body: JsonObject, merchant: Merchant) -> bool:
    """With a merchants file, a record whose ``mid`` is not this account's merchant's."""
    mid = body.get("mid")
    return state.merchants.strict and isinstance(mid, str) and mid.lower() != merchant.mid.lower()


def _rejected(position: int, body: JsonObject, code: str, message: str) -> Row:
    return _row(position, body, "REJECTED", errorCode=code, errorMessage=message)


def _transmit_record(position: int, body: JsonObject) -> Row:
    errors = check(body, TRANSMIT)
    if errors:
        return _rejected(position, body, "ValidationFailed", _summary(errors))
    return _row(position, body, "SUCCESS", errorCode="", errorMessage="")


async def _record_rows(
    state: SandboxState,
    kind: str,
    records: list[Any],
    default_expiry: Any,
    settle: list[tuple[str, str | None]],
    merchant: Merchant,
) -> list[Row]:
    rows: list[Row] = []
    for position, record in enumerate(records, start=1):
        if position % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let the SFTP server answer while a big file is taken in
        body = fold(record) if isinstance(record, dict) else {}
        seq = body.pop("sequencenumber", None)
        if str(seq) != str(position):
            rows.append(_rejected(position, body, "ValidationFailed", f"SequenceNumber: expected {position}"))
        elif _foreign(state, body, merchant):
            owner = f"another merchant than this SFTP account's ({merchant.name})"
            rows.append(_rejected(position, body, "Forbidden", f"mid: belongs to {owner}"))
        elif kind == "transmit":
            rows.append(_transmit_record(position, body))
        else:
            body.setdefault("expirydateutc", default_expiry)
            if state.merchants.strict:
                body.setdefault("mid", merchant.mid)
            rows.append(_evaluate_record(state, position, body, settle))
    return rows


async def process_file(
    state: SandboxState,
    path: Path,
    settle: list[tuple[str, str | None]],
    merchant: Merchant,
    respond: bool = True,
) -> dict[str, Any]:
    """Validate and apply one inbound file of ``merchant``'s SFTP account, write its response file
    (unless ``respond`` is False: a lost answer); returns the batch log entry."""
    kind = "transmit" if path.name.startswith("transmit_") else "evaluate"
    raw = await asyncio.to_thread(path.read_bytes)
    records, error = _parse(state, kind, raw, merchant)
    if error is not None:
        folded = [fold(r) if isinstance(r, dict) else {} for r in records]
        rows = [_rejected(i, body, "FileRejected", error) for i, body in enumerate(folded, start=1)]
    else:
        header = fold(orjson.loads(raw).get("header") or {})
        rows = await _record_rows(state, kind, records, header.get("expirydateutc"), settle, merchant)
    response = path.name.removesuffix(".json") + ".response.csv"
    if respond:
        _write_atomically(path.parent.parent / "outbound" / response, _csv(rows))
    _move_to_processed(path)
    accepted = sum(1 for r in rows if r["status"] != "REJECTED")
    return {
        "file": path.name,
        "kind": kind,
        "records": len(records),
        "accepted": accepted,
        "rejected": len(rows) - accepted,
        "error": error,
        "response": response if respond else None,
    }


def _move_to_processed(path: Path) -> None:
    """The inbound file, and its manifest if any, go to ``inbound/processed/``."""
    processed = path.parent / "processed"
    processed.mkdir(exist_ok=True)
    os.replace(path, processed / path.name)
    manifest = path.with_name(path.name + ".manifest")
    if manifest.exists():
        os.replace(manifest, processed / manifest.name)


def _csv(rows: list[Row]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _write_atomically(target: Path, data: bytes) -> None:
    scratch = target.with_name(f".{target.name}.part")
    scratch.write_bytes(data)
    os.replace(scratch, target)
