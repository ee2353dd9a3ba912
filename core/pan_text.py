"""What a card number (PAN) looks like: in a value (:func:`looks_like_pan`) and in the text of a
card-number field (:func:`holds_pan`). Which fields are looked at is core/pan.py's find_pan.
"""

from __future__ import annotations

import re

__all__ = ["UUID", "groups_hold_pan", "holds_pan", "looks_like_grouped_pan", "looks_like_pan", "luhn_ok"]

# What may stand between a card number's digits: spaces, tabs, line breaks, dashes, dots, slashes.
_SEPARATORS = re.compile(r"[ \t\n\r\-./]")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def looks_like_pan(value: object) -> bool:
    """True for 13–19 digits (a string, separators allowed: spaces, tabs, line breaks, dashes, dots,
    slashes; an int; an integral float, as JSON may spell an int: ``4111111111111111.0``) that pass
    the Luhn check."""
    if isinstance(value, float) and value.is_integer():  # False for inf and nan
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) < 13:  # most values: no regular expression
        return False
    digits = _SEPARATORS.sub("", value.strip())
    return 13 <= len(digits) <= 19 and digits.isdigit() and digits.isascii() and luhn_ok(digits)


# A card number as it is printed: in fours, the last group shorter (4-4-4-1 to 4-4-4-4-3), or as
# American Express (4-6-5) and Diners Club (4-6-4) print theirs, any separators between groups.
_GROUPED = re.compile(
    r"[0-9]{4}(?:[ \t\n\r\-./]+[0-9]{4}){1,3}[ \t\n\r\-./]+[0-9]{1,4}"
    r"|[0-9]{4}[ \t\n\r\-./]+[0-9]{6}[ \t\n\r\-./]+[0-9]{4,5}"
)


def looks_like_grouped_pan(value: object) -> bool:
    """True for text that is a card number written in groups as cards print it (``4111 1111 1111
    1111``, ``3782 822463 10005``): :func:`looks_like_pan`, with separators where a card has them.
    A bare run of digits, or other groups (a phone number ``0044 20 7946 0956``, a date and time
    ``24/11/2026 10.00.03``, both passing Luhn), is not: in free text that may be an id."""
    return isinstance(value, str) and _GROUPED.fullmatch(value.strip()) is not None and looks_like_pan(value)


def groups_hold_pan(groups: list[str]) -> bool:
    """True when some of ``groups`` (strings of digits) in a row hold 13–19 digits that pass Luhn."""
    for start in range(len(groups)):
        digits = ""
        for group in groups[start:]:
            digits += group
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_ok(digits):
                return True
    return False


# In text: digit groups joined by separators, each run whole (possessive: no shorter run is tried).
_DIGIT_RUN = re.compile(r"[0-9]++(?:[ \t\n\r\-./]++[0-9]++)*+")
_DIGITS = re.compile(r"[0-9]+")
# A UUID (a Flex token, an orderSessionKey, an eventId's): its digit groups, joined by dashes, are
# no card number (core/pan.py redact_pan keeps them too).
UUID = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Za-z])")


def holds_pan(value: object) -> bool:
    """True when a card-number field's value holds a card number anywhere in it: a number as
    :func:`looks_like_pan` reads it; in text, digit groups in a row, joined by separators, that
    hold 13–19 digits passing Luhn, whatever text is around them (``4111.1111.1111.1111``,
    ``4111111111111111 exp 12/26``).

    Not inside a UUID (the shape of a Flex token: its all-digit groups, ``41111111-1111-1111-b111-…``
    or ``00000000-0000-…``, would be one now and then), and not a group glued to a letter or
    ``_`` (``tok_4111…``, the digits of a hex token). Whole groups only, not any stretch of digits
    as mask_pans reads log text: in a field, that would refuse a 15-digit run one time in two.
    """
    if not isinstance(value, str):
        return looks_like_pan(value)
    if "-" in value:
        value = UUID.sub("x", value)
    for run in _DIGIT_RUN.finditer(value):
        groups = _DIGITS.findall(run.group())
        if run.start() > 0 and _is_word_char(value[run.start() - 1]):
            groups = groups[1:]
        if run.end() < len(value) and _is_word_char(value[run.end()]):
            groups = groups[:-1]
        if groups_hold_pan(groups):
            return True
    return False


def _is_word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")
