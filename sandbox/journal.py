"""The request journal: every /v1 call, like WireMock's, with card data masked."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from .wire import JsonObject, iso, kept, utcnow

__all__ = ["Journal", "JournalEntry", "mask_card_data"]

_SECRET_KEYS = frozenset({"verification_value", "verificationvalue", "cvv", "appsecret", "app_secret"})


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _mask_value(key: str, value: Any) -> Any:
    if key.lower() in _SECRET_KEYS and value not in (None, ""):
        return "***"
    if isinstance(value, str):
        if value.isdigit() and 13 <= len(value) <= 19 and _luhn(value):
            return f"{value[:6]}{'*' * (len(value) - 10)}{value[-4:]}"
        return value
    return mask_card_data(value)


def mask_card_data(value: Any) -> Any:
    """A copy with card numbers (13-19 digits passing Luhn) and CVVs/secrets masked."""
    if isinstance(value, dict):
        return {key: _mask_value(str(key), item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_value("", item) for item in value]
    if isinstance(value, str):
        return _mask_value("", value)
    return value


@dataclass(slots=True)
class JournalEntry:
    seq: int
    at: str | None
    method: str
    path: str
    query: dict[str, str | list[str]]
    body: Any
    idempotency_key: str | None
    status: int | None = None
    replayed: bool = False
    fault: str | None = None
    mid: str | None = None  # the merchant whose token authenticated the call
    duration_ms: float | None = None  # from the call's arrival in the middleware to its answer

    def to_json(self) -> JsonObject:
        return {
            "seq": self.seq,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body": self.body,
            "idempotencyKey": self.idempotency_key,
            "status": self.status,
            "replayed": self.replayed,
            "fault": self.fault,
            "mid": self.mid,
            "durationMs": self.duration_ms,
        }


class Journal:
    """Answered calls in the order they finished; keeps the last ``limit``.

    A call enters the journal when it is answered (or its connection dropped), and ``seq`` is given
    then, so a poller reading ``?since=<last seq>`` never misses a call that was still in flight.
    ``seq`` keeps growing across resets.

    A closed entry is kept as its JSON bytes beside its ``seq`` and path: a tuple of a number and two
    strings, which the garbage collector stops tracking, so a full journal (100 000 calls) adds
    nothing to the sandbox's collections; reading the journal parses the entries it returns.
    """

    def __init__(self, limit: int) -> None:
        self._entries: deque[tuple[int, str, bytes]] = deque(maxlen=limit)
        self._seq = 0

    def open(
        self, method: str, path: str, query: dict[str, str | list[str]], body: Any, key: str | None
    ) -> JournalEntry:
        """Start a record as the call arrives; the caller fills ``status``/``fault``, then closes it."""
        return JournalEntry(0, iso(utcnow()), method, path, query, mask_card_data(body), key)

    def close(self, entry: JournalEntry) -> None:
        """The call is over: number it and make it visible (later changes to ``entry`` are not seen)."""
        self._seq += 1
        entry.seq = self._seq
        self._entries.append((entry.seq, entry.path, kept(orjson.dumps(entry.to_json()))))

    def entries(self, path: str | None = None, since: int = 0) -> list[JsonObject]:
        return [
            orjson.loads(raw)
            for seq, entry_path, raw in self._entries
            if seq > since and (path is None or entry_path == path)
        ]

    def clear(self) -> None:
        self._entries.clear()
