"""Which records go into a batch file, and as what body (pure, no I/O; the batch consumer's hot path).

A record goes into a file only if the real-time bridge would accept it (streams/runtime/bridge.py
``event_from``: JSON object, no card number, a valid PaymentEvent) and, for evaluate files, it is
a managed MIT. Anything else is skipped here: the bridge reads the same topic and dead-letters it.

Per record this is the cost of the whole batch path, so two cheap checks come first: the
``isMIT`` pre-filter before validation, and a scan of the raw bytes for anything that could be a
card number before the field-by-field PAN search (most records hold no 13-digit run at all).
"""

from __future__ import annotations

from typing import Any

import orjson

from consumers.flows import Defaults, evaluate_body, transmit_body
from core.errors import InvalidEvent
from core.pan import find_pan
from schemas.batch import BatchKind
from schemas.events import validate_payment_event

__all__ = ["batch_body", "may_be_mit", "may_hold_pan"]

# Every value core.pan looks_like_pan accepts (13-19 ASCII digits of a string or an int, with
# any spaces or dashes between them) appears in the JSON text as 13 digits in a row once spaces
# and dashes are removed, unless its digits are escaped as \uXXXX. Done with bytes.translate and
# a substring search, both in C: a regular expression costs ten times as much here.
_DIGITS_AS_ZERO = bytes(48 if 48 <= i <= 57 else 120 for i in range(256))  # "0" for digits, else "x"
_THIRTEEN_DIGITS = b"0" * 13


def may_hold_pan(raw: bytes) -> bool:
    """False only when the JSON text ``raw`` cannot hold a card number anywhere (conservative)."""
    return b"\\u" in raw or _THIRTEEN_DIGITS in raw.translate(_DIGITS_AS_ZERO, b" -")


def may_be_mit(data: dict[str, Any]) -> bool:
    """Cheap pre-filter before full validation: a top-level ``isMIT`` (any case) that is not false."""
    value = data.get("isMIT")
    if value is None:
        value = next((v for k, v in data.items() if isinstance(k, str) and k.lower() == "ismit"), None)
    return value not in (None, False, 0, "false", "False", "0", "")


def batch_body(kind: BatchKind, raw: bytes | None, defaults: Defaults) -> tuple[dict[str, Any], str] | None:
    """The Flex request body and eventId of a record for a ``kind`` file, or None to skip it."""
    try:
        data = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or (kind == "evaluate" and not may_be_mit(data)):
        return None
    assert raw is not None
    if may_hold_pan(raw) and find_pan(data) is not None:
        return None
    try:
        event = validate_payment_event(data)
    except InvalidEvent:
        return None
    if kind == "transmit":
        return transmit_body(event, defaults), event.event_id
    return (evaluate_body(event, defaults), event.event_id) if event.is_mit else None
