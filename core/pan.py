"""Card-number (PAN) detection and masking: flexbridge takes Flex tokens, never raw card numbers."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["find_pan", "looks_like_pan", "luhn_ok", "mask_pans", "redact_pan"]

_SEPARATORS = re.compile(r"[ \-]")
# 13-19 digits, optionally grouped by single spaces or dashes (e.g. "4111 1111 1111 1111").
_CANDIDATE = re.compile(rb"(?<![0-9])[0-9](?:[ \-]?[0-9]){12,18}(?![0-9])")
_CARD_KEYS = frozenset({"cardnumber", "card_number", "pan", "accountnumber", "primaryaccountnumber"})


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def looks_like_pan(value: object) -> bool:
    """True for a string of 13–19 digits (spaces/dashes allowed) that passes the Luhn check."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return False
    digits = _SEPARATORS.sub("", value.strip())
    return 13 <= len(digits) <= 19 and digits.isdigit() and digits.isascii() and luhn_ok(digits)


def find_pan(data: Any, path: str = "", depth: int = 0) -> str | None:
    """The dotted path of the first card-number field that holds a PAN, else None.

    Looks at every field named like a card number (``cardNumber``, ``pan``, …, any casing) at any
    depth, and at ``number`` inside a payment method. Values are never returned, only the path.
    """
    if depth > 8:
        return None
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    in_payment = path.rsplit(".", 1)[-1].lower() in {"paymentmethod", "payment_method", "credit_card"}
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        name = str(key).lower()
        if (name in _CARD_KEYS or (in_payment and name == "number")) and looks_like_pan(value):
            return where
        if isinstance(value, dict | list):
            found = find_pan(value, where, depth + 1)
            if found:
                return found
    return None


def redact_pan(text: str) -> str:
    """Text with every card number masked the same way (for messages that may reach a log)."""
    return mask_pans(text.encode()).decode()


def mask_pans(raw: bytes) -> bytes:
    """Replace every Luhn-valid 13–19 digit run in raw bytes by its last four digits behind asterisks."""

    def _mask(match: re.Match[bytes]) -> bytes:
        text = match.group(0).decode()
        digits = _SEPARATORS.sub("", text)
        if not luhn_ok(digits):
            return match.group(0)
        return b"*" * (len(digits) - 4) + digits[-4:].encode()

    return _CANDIDATE.sub(_mask, raw)
