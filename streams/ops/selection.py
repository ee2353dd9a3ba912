"""What a replay or a redrive selects, and the provenance headers it stamps on what it sends
(their names are wire contract: schemas/replay.py).

Pure functions and frozen models, no Kafka: the window (times or offsets), the record filters
(partition, key, ``--where path=value``, merchant, dead-letter reason) and the loop guard.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from consumers.intake import mid_of
from core.merchants import mid_key
from schemas.dlq import DLQ_HEADER_PREFIX, DLQ_REASON, MERCHANT_HEADER
from schemas.replay import (
    FORCE_HEADER,
    REPLAY_COUNT_HEADER,
    REPLAY_HEADERS,
    REPLAY_ID_HEADER,
    REPLAY_OF_HEADER,
)

__all__ = [
    "Selection",
    "matches",
    "parse_duration",
    "parse_time",
    "parse_where",
    "provenance_headers",
    "replay_count",
    "window_start",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Headers = Sequence[tuple[str, bytes]]


class Selection(BaseModel):
    """Which records of ``topic`` to send. Times are epoch milliseconds (Kafka timestamps)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str
    from_ms: int | None = None
    to_ms: int | None = None  # exclusive
    from_offset: int | None = None
    to_offset: int | None = None  # inclusive
    partitions: tuple[int, ...] = ()
    keys: tuple[str, ...] = ()
    where: tuple[tuple[str, str], ...] = ()
    reasons: tuple[str, ...] = ()  # dead letters: dlq-reason values
    # records of these merchants (names): a dead letter's dlq-merchant header, else the value's
    # top-level mid among ``mids`` (their mids as core.merchants.mid_key matches them)
    merchants: tuple[str, ...] = ()
    mids: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """The window and filters as plain data (for the plan, the audit record and resume)."""
        return self.model_dump(mode="json")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d``, ``1w`` → a timedelta; ValueError otherwise (also for one
    longer than a timedelta holds, about 2.7 million years)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"bad duration {text!r}: expected a number and one of s, m, h, d, w (e.g. 2h)")
    try:
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    except OverflowError:
        raise ValueError(f"duration {text!r} is too large (at most {timedelta.max.days}d)") from None


def window_start(now_ms: int, last: timedelta) -> int:
    """The start, in epoch milliseconds, of a window of the ``last`` duration up to ``now_ms``: 0 at
    the earliest (Kafka timestamps are not negative, so a window reaching before 1970 starts at the
    beginning)."""
    return max(0, now_ms - last // timedelta(milliseconds=1))


def parse_time(text: str) -> int:
    """An ISO-8601 date-time (``Z`` or an offset; naive means UTC) → epoch milliseconds."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad date-time {text!r}: expected ISO-8601, e.g. 2026-11-24T10:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_where(text: str) -> tuple[str, str]:
    """``transaction.responseCode=05`` → (``transaction.responseCode``, ``05``)."""
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise ValueError(f"bad filter {text!r}: expected path=value, e.g. status=DECLINED")
    return path.strip(), value


def _lookup(data: Any, path: str) -> Any:
    """A dotted path, field names case-insensitive (as Flex binds them), list items by index."""
    for part in path.split("."):
        if isinstance(data, dict):
            lowered = {str(k).lower(): v for k, v in data.items()}
            data = lowered.get(part.lower())
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _same(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    if value is None:
        return wanted.lower() in ("null", "")
    return str(value) == wanted


def matches(sel: Selection, key: bytes | None, value: bytes | None, timestamp: int, headers: Headers) -> bool:
    """Whether a record in the offset window passes the time window and every filter."""
    if sel.from_ms is not None and timestamp < sel.from_ms:
        return False
    if sel.to_ms is not None and timestamp >= sel.to_ms:
        return False
    if sel.keys and (key or b"").decode(errors="replace") not in sel.keys:
        return False
    if sel.reasons and _header(headers, DLQ_REASON) not in sel.reasons:
        return False
    if sel.merchants and not _of_merchants(sel, value, headers):
        return False
    if not sel.where:
        return True
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return False
    return all(_same(_lookup(data, path), wanted) for path, wanted in sel.where)


def _of_merchants(sel: Selection, value: bytes | None, headers: Headers) -> bool:
    named = _header(headers, MERCHANT_HEADER)
    if named is not None:
        return named in sel.merchants
    try:
        mid = mid_of(orjson.loads(value or b""))
    except orjson.JSONDecodeError:
        return False
    return mid is not None and mid_key(mid) in sel.mids


def _header(headers: Headers, name: str) -> str | None:
    for k, v in headers:
        if k == name:
            return None if v is None else v.decode(errors="replace")  # Kafka allows a null value
    return None


def replay_count(headers: Headers) -> int:
    """How many times this record's content has been replayed already (0 for an original)."""
    text = _header(headers, REPLAY_COUNT_HEADER)
    return int(text) if text and text.isdigit() else 0


def provenance_headers(
    headers: Headers,
    *,
    origin: str,
    replay_id: str,
    force: bool,
    strip_dlq: bool = False,
) -> list[tuple[str, bytes]]:
    """The original headers minus old replay (and, for a redrive, dead-letter) ones, plus ours."""
    kept = [
        (k, v)
        for k, v in headers
        if k not in REPLAY_HEADERS and not (strip_dlq and k.startswith(DLQ_HEADER_PREFIX))
    ]
    out = [
        *kept,
        (REPLAY_OF_HEADER, origin.encode()),
        (REPLAY_ID_HEADER, replay_id.encode()),
        (REPLAY_COUNT_HEADER, str(replay_count(headers) + 1).encode()),
    ]
    if force:
        out.append((FORCE_HEADER, b"1"))
    return out
