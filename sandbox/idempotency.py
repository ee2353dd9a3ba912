"""Idempotency records for /evaluate, /capture, /cancel and /external-cancel.

Same key and same request → the original answer again, no second effect. Same key with a different
request → HTTP 409. A request is compared canonically: the operation, its target order and the body
as parsed JSON (key order and key casing ignored, the key itself left out). Only answers below
HTTP 400 are remembered, so a request refused once (validation, unknown order) is judged again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson
from aiohttp import web

from .wire import failure, kept, mark_replayed

__all__ = ["IdempotencyStore", "fingerprint", "run_idempotent"]


class _Record(NamedTuple):
    """A tuple of bytes and numbers: the garbage collector stops tracking it, so the records a long
    run keeps (24 hours' worth) add nothing to the sandbox's collections."""

    fingerprint: bytes
    status: int
    body: bytes
    created: float


def fingerprint(operation: str, target: str | None, body: dict[str, Any]) -> bytes:
    """Canonical bytes identifying what a request asks for; ``body`` is already folded (lower-case keys)."""
    without_key = {key: value for key, value in body.items() if key != "idempotencykey"}
    document = {"operation": operation, "target": target, "body": without_key}
    return kept(orjson.dumps(document, option=orjson.OPT_SORT_KEYS))  # held for the window


class IdempotencyStore:
    def __init__(self, window_seconds: float) -> None:
        self._window = window_seconds
        self._records: dict[str, _Record] = {}

    def lookup(self, key: str) -> _Record | None:
        record = self._records.get(key)
        if record is not None and time.monotonic() - record.created > self._window:
            del self._records[key]
            return None
        return record

    def save(self, key: str, print_: bytes, response: web.Response) -> None:
        body = response.body
        raw = kept(body) if isinstance(body, (bytes, bytearray)) else b""  # the answer's, from orjson
        self._records[key] = _Record(print_, response.status, raw, time.monotonic())

    def clear(self) -> None:
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)


def run_idempotent(
    store: IdempotencyStore,
    key: str,
    print_: bytes,
    effect: Callable[[], web.Response],
) -> web.Response:
    """Replay, refuse (409) or run ``effect`` once. Synchronous, hence atomic on the event loop."""
    record = store.lookup(key)
    if record is not None:
        if record.fingerprint != print_:
            return failure(
                409,
                "The idempotency key was already used with a different request.",
                "IdempotencyKeyConflict",
            )
        mark_replayed()
        return web.Response(
            body=record.body, status=record.status, content_type="application/json", charset="utf-8"
        )
    response = effect()
    if response.status < 400:
        store.save(key, print_, response)
    return response
