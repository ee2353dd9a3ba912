"""What a dead letter keeps of its record: the key, value and headers, card data masked where a
card number may be, and which of them were masked (the ``dlq-masked`` header).

A dead letter's value is searched again here rather than trusted to the intake's search, which
may never have run on it or seen all of it: ``decode_object`` refuses an object nested deeper
than 64 levels (``schema``) before any search; orjson keeps only the last of duplicate keys, so
``{"cardNumber": "4111…", "cardNumber": "tok_1"}`` is accepted with its token and a later dead
letter (``unknown-merchant``, ``flex-rejected`` …) would copy the first; and the intake's raw-bytes
pre-scan may skip the search. Here the stdlib parser keeps every pair, has no depth limit but the
interpreter's, and core.pan find_pan searches the result by field name: a numeric order id is no
card field, so an event without a card number stays byte for byte the same and can be redriven.
Only dead letters pay for this second parse.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.pan import find_pan, mask_card_data, mask_pans
from schemas.dlq import DlqReason

__all__ = ["MaskedCopy", "masked_copy", "masked_value"]

# dlq-masked names the value this way when it was left out rather than masked (masked_value)
_LEFT_OUT = "value (left out)"


@dataclass(frozen=True)
class MaskedCopy:
    """The record's parts as its dead letter carries them; ``masked`` names those that were changed."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    masked: tuple[str, ...]


def masked_copy(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]], reason: DlqReason
) -> MaskedCopy:
    """The record's key, value and original headers as a dead letter may keep them.

    The value as :func:`masked_value` gives it. When that changed it (or the reason is
    ``pan-detected``), the record carries card data; when the value is no JSON object (or there is
    none), nothing ties the key to an order id. In both cases every digit run of its key and
    header names and values that may be a card number is masked too (mask_pans): no field names
    say where one would be there. Otherwise they stay as they were: the key of an event is its
    order id, which may pass Luhn without being a card number, and a redrive sends the record as
    it came.
    """
    holds = _holds_card_number(value) if value is not None else None
    kept = _masked(value, holds, reason)
    new_key, new_headers = key, list(headers)
    if reason == "pan-detected" or kept != value or holds is None:
        new_key = mask_pans(key) if key else key
        new_headers = [(_masked_name(name), mask_pans(text) if text else text) for name, text in headers]
    changed = (
        (_LEFT_OUT if kept is None else "value", kept != value),
        ("key", new_key != key),
        ("headers", new_headers != list(headers)),
    )
    return MaskedCopy(new_key, kept, new_headers, tuple(part for part, was in changed if was))


def _masked_name(name: str) -> str:
    """A header's name with its card-number-like digit runs masked: a producer may put anything there."""
    return mask_pans(name.encode()).decode(errors="replace")


def masked_value(value: bytes | None, reason: DlqReason) -> bytes | None:
    """The value a dead letter carries: ``value`` with every card number and verification code
    masked (core.pan mask_card_data) when it is refused as ``pan-detected``, when a card-number
    field in it holds a PAN, or when it is no JSON object (no field names to go by there); else
    ``value`` itself, byte for byte.

    A JSON object whose card number mask_card_data cannot reach in its bytes (text in UTF-16,
    which the stdlib parser reads) is left out: None, named ``value (left out)`` in dlq-masked.
    """
    return _masked(value, _holds_card_number(value) if value is not None else None, reason)


def _masked(value: bytes | None, holds: bool | None, reason: DlqReason) -> bytes | None:
    """:func:`masked_value`, ``holds`` being ``_holds_card_number(value)`` (None without a value)."""
    if value is None:
        return None
    if holds is False and reason != "pan-detected":
        return value
    masked = mask_card_data(value)
    if holds is not None and _holds_card_number(masked):
        return None
    return masked


def _holds_card_number(value: bytes) -> bool | None:
    """Whether a card-number field of the JSON object ``value`` holds a PAN (find_pan's rule, over
    every pair of every object, however deep), or None when ``value`` is no JSON object, or one
    the parser cannot take (NaN, nested deeper than the interpreter's recursion limit)."""
    try:
        data = json.loads(value, object_pairs_hook=_object, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if not isinstance(data, dict | _Pairs):
        return None
    return find_pan(data) is not None


class _Pairs(list[dict[str, Any]]):
    """An object with a repeated key, as find_pan walks every pair of it: a list of one-pair
    objects. find_pan names a list's items as the list, so each pair keeps the name of the object
    above it (``paymentMethod``'s ``number`` is still a card number) and its card-field status."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Pairs:
    found = dict(pairs)
    return found if len(found) == len(pairs) else _Pairs({name: value} for name, value in pairs)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is no JSON")  # orjson (the intake's parser) refuses it too
