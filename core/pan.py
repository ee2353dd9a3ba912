"""Card-number (PAN) detection and masking: flexbridge takes Flex tokens, never raw card numbers.

Detection (:func:`find_pan`) goes by field name: a numeric order or transaction id of 13–19 digits
passes Luhn one time in ten and must not be refused, so where a value sits says how it is judged
(what a card number looks like is core/pan_text.py's):

- a card-number field (``cardNumber``, ``pan``, ``cardNum``, ``ccNo`` …; ``number`` in a payment
  method or card; anything under one): a card number anywhere in its text (``holds_pan``);
- any other field of a payment method or card (``paymentMethod``, ``creditCard``, ``card``, at
  any depth under one): a value that is a card number whole (``looks_like_pan``). Flex's payment
  method (flex-api.md) holds names, brand, type, country, issuer, level, fingerprint, a 6-digit
  BIN, the last four, expiry month and year, the CVV, a token (a UUID) and a flag: none is 13–19
  digits, so a card number there is one in the wrong field (``holderName``). A field named like
  an id (``…Id``: Visa's network transaction id has 15 digits) is judged as ids are elsewhere;
- ``additionalFields`` (name/value pairs Flex keeps as given): a value written as cards print
  their number (``looks_like_grouped_pan``: ``4111 1111 1111 1111``), not a bare run of digits,
  which may be an id; a pair whose ``key`` or ``name`` names a card field is one;
- anywhere else, nothing.

Masking (:func:`mask_pans`) works on raw text where no field names are known, so it masks every
run of digits that could be one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from core.names import fold, folded
from core.pan_text import (
    UUID,
    holds_pan,
    looks_like_grouped_pan,
    looks_like_pan,
    luhn_ok,
)  # luhn_ok: importable here

__all__ = [
    "find_pan",
    "looks_like_pan",
    "luhn_ok",
    "mask_card_codes",
    "mask_card_data",
    "mask_pans",
    "redact_pan",
]

# Folded field names (core/names.py) whose value is a card number, and those whose `number` is one.
_CARD_KEYS = frozenset(
    {"cardnumber", "cardnum", "cardno", "pan", "accountnumber", "primaryaccountnumber"}
    | {"creditcardnumber", "ccnumber", "ccnum", "ccno"}
)
_CARD_PARENTS = frozenset({"paymentmethod", "creditcard", "card"})
_CARD_NAMES = _CARD_KEYS | _CARD_PARENTS  # an additionalFields pair named so is a card field
_NOTABLE = _CARD_NAMES | {"additionalfields"}  # outside them, every other field is skipped at once
# How a field's value (and key) is judged, by where it sits (the module's docstring); the stricter wins.
_ANYWHERE, _EXTRA, _METHOD, _CARD = range(4)
_HOLDS = (None, looks_like_grouped_pan, looks_like_pan, holds_pan)


def _entries(node: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(node, dict):
        return iter(node.items())
    return enumerate(node) if isinstance(node, list) else iter(())


def _judged(name: str, parent: str, outer: int) -> int:
    """How the field ``name`` in ``parent`` (itself judged as ``outer``) is judged."""
    if outer == _CARD or name in _CARD_KEYS or (name == "number" and parent in _CARD_PARENTS):
        return _CARD
    if name in _CARD_PARENTS or (outer == _METHOD and not name.endswith("id")):
        return _METHOD
    return _EXTRA if outer == _EXTRA or name == "additionalfields" else _ANYWHERE


def _names_a_card(pair: dict[Any, Any]) -> bool:
    """Whether an additionalFields item's ``key`` or ``name`` names a card field."""
    return any(
        isinstance(k, str) and folded(k) in ("key", "name") and isinstance(v, str) and fold(v) in _CARD_NAMES
        for k, v in pair.items()
    )


def find_pan(data: Any) -> str | None:
    """The dotted path of the first field that holds a PAN where one is looked for (the module's
    docstring), else None.

    Field names in any case, with or without ``_`` or ``-``, at any depth; a list's items are named
    as the list. Keys count as values (``{"paymentMethod": {"4111…": true}}``). Depth-first with
    an explicit stack, in document order: no depth limit for a PAN to hide below, no
    RecursionError. The path is built from the input's own keys, so it is masked whole
    (redact_pan): a card number used as a key, or spread over keys (``4111.1111.1111.1111``, as
    the path joins them), is masked in it (the path goes into error messages, headers and logs).
    Values are never returned.
    """
    stack: list[tuple[Iterator[tuple[Any, Any]], str, str, int]] = [(_entries(data), "", "", _ANYWHERE)]
    while stack:
        entries, path, parent, outer = stack[-1]
        for key, value in entries:
            name = folded(key) if isinstance(key, str) else parent  # a list item: named as its list
            judged = _judged(name, parent, outer) if outer or name in _NOTABLE else _ANYWHERE
            holds = _HOLDS[judged]
            if holds is not None and (holds(value) or (isinstance(key, str) and holds(key))):
                return redact_pan(f"{path}.{key}" if path else str(key))
            if isinstance(value, dict | list):
                if judged == _EXTRA and isinstance(value, dict) and _names_a_card(value):
                    judged = _CARD
                stack.append((_entries(value), f"{path}.{key}" if path else str(key), name, judged))
                break
        else:
            stack.pop()
    return None


def redact_pan(text: str) -> str:
    """Text with every card number masked the same way (for messages that may reach a log, a
    status reason, a dead letter's error). A UUID is kept whole (Flex's orderSessionKeys and ids,
    eventIds): mask_pans reads its dash-joined digit groups as one run, and would mask part of
    about one UUID in 120. Most text holds nothing to mask: one mask_pans says so."""
    masked = mask_pans(text.encode()).decode()
    if masked == text or "-" not in text:
        return masked
    parts: list[str] = []
    done = 0
    for uuid in UUID.finditer(text):
        parts += (mask_pans(text[done : uuid.start()].encode()).decode(), uuid.group())
        done = uuid.end()
    return "".join(parts) + mask_pans(text[done:].encode()).decode()


# A run of digits joined by any separators looks_like_pan allows, as JSON text shows it: a tab or a
# line break as the escape \t, \n, \r; a slash as itself or \/. In a JSON string, any of these
# characters may also be a \u escape (\u0034 is "4", \u002e ".", \u0009 a tab); a run starts at a
# digit after no other digit but an escape's last (" 4111…" as "\u00204111…").
_SEPARATOR = rb"[ \-./]|\\[tnr/]"
_ESCAPED_SEPARATOR = _SEPARATOR + rb"|\\u00(?:2[0dDeEfF]|0[9aAdD])"
_RUN = re.compile(rb"[0-9](?:(?:" + _SEPARATOR + rb")*+[0-9]){12,}")  # from a run's first digit: whole
_ESCAPED_RUN = re.compile(
    rb"(?<!\\u)(?:(?<![0-9])|(?<=\\u[0-9a-fA-F]{4}))(?:[0-9]|\\u003[0-9])(?:(?:"
    + _ESCAPED_SEPARATOR
    + rb")*+(?:[0-9]|\\u003[0-9])){12,}"
)
_ESCAPED_SEPARATORS = re.compile(_ESCAPED_SEPARATOR)
# A number with an exponent (4.111111111111111e15, an integral float looks_like_pan accepts), or
# something like one ("1.2.3e4" or the "9e86" of a hex id: float() refuses it or it is no PAN).
_EXPONENT = re.compile(rb"(?<![0-9.])[0-9][0-9.]*+[eE][+-]?[0-9]+")
# What mask_pans looks for first, by bytes.translate and substring searches (in C, a tenth of a
# regular expression's cost): digits as "0", e/E as "e", "." as itself, anything else "x".
_CLASSES = bytes(
    48 if 48 <= i <= 57 else 101 if i in (69, 101) else i if i == 46 else 120 for i in range(256)
)
_THIRTEEN_DIGITS = b"0" * 13
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit's Luhn value in a doubled position


def mask_pans(raw: bytes) -> bytes:
    """``raw`` with every run of digits that may be a card number replaced by its last four digits
    behind asterisks: every shape looks_like_pan accepts as raw JSON text shows it (any spaces,
    tabs, line breaks, dashes, dots and slashes between digits, ``\\u`` escapes, an exponent), and
    any longer run that holds one.

    A 13–19 digit run is masked when it or any 13–19 digit stretch of it passes Luhn (a card number
    run into other digits, in log text); a longer run always is (it holds such a stretch 97 times in
    100 at 20 digits, more above: checking costs more than it keeps). Shorter numbers are kept.
    Most text holds none of these shapes: a translate and a few substring searches say so.
    """
    # separators dropped (and "\\", "t", "n", "r" of their escapes): a run shows as 13 "0"s
    classes = raw.translate(_CLASSES, b" -./\\tnr")
    if b"0e" in classes:
        raw = _mask_exponents(raw)  # only takes digits away: ``classes`` still shows every run
    if b"\\u003" in raw or b"\\u002" in raw or b"\\u000" in raw:  # an escaped digit or separator
        return _ESCAPED_RUN.sub(_mask_run, raw)
    return _RUN.sub(_mask_run, raw) if _THIRTEEN_DIGITS in classes else raw


def _mask_exponents(raw: bytes) -> bytes:
    """``raw`` with each number written with an exponent that looks_like_pan accepts masked.

    Looks only where a digit precedes an "e" (bytes.find in ``raw`` translated by _CLASSES), not by
    a regular expression over all of ``raw``: hex ids hold such pairs, and a scan would cost more
    than the rest of mask_pans. Each search back for a number's start stops at the last "e" looked
    at, so the whole is linear in ``len(raw)``.
    """
    classes = raw.translate(_CLASSES)
    parts: list[bytes] = []
    done = floor = 0
    at = classes.find(b"0e")
    while at >= 0:
        start = max(classes.rfind(b"x", floor, at), classes.rfind(b"e", floor, at), floor - 1) + 1
        number = _EXPONENT.match(raw, start)
        if number is not None and number.end() > at + 1:
            parts += (raw[done:start], _mask_exponent(number))
            done = number.end()
        floor = max(at + 2, done)
        at = classes.find(b"0e", floor)
    return b"".join(parts) + raw[done:] if parts else raw


def _mask_run(match: re.Match[bytes]) -> bytes:
    digits = _digits_of(match.group(0))
    if len(digits) <= 19 and not _holds_luhn_stretch(digits):
        return match.group(0)
    return b"*" * (len(digits) - 4) + digits[-4:]


def _mask_exponent(match: re.Match[bytes]) -> bytes:
    try:
        value = float(match.group(0))
    except ValueError:
        return match.group(0)
    if not looks_like_pan(value):
        return match.group(0)  # its mantissa's digits are still _RUN's to mask
    digits = str(int(value)).encode()
    return b"*" * (len(digits) - 4) + digits[-4:]


def _digits_of(run: bytes) -> bytes:
    """The digits of a matched run: escapes decoded, separators dropped."""
    if b"\\" in run:
        run = _ESCAPED_SEPARATORS.sub(b"", run).replace(b"\\u003", b"")  # \u0034 → 4
    return run.translate(None, b" -./")


def _holds_luhn_stretch(digits: bytes) -> bool:
    """True when some 13–19 digit stretch of ``digits`` (at most 19 of them) passes Luhn."""
    for end in range(len(digits), 12, -1):
        total = 0
        for length in range(1, end + 1):  # leftwards from ``end``: every other digit doubled
            d = digits[end - length] - 48
            total += _DOUBLED[d] if length % 2 == 0 else d
            if length >= 13 and total % 10 == 0:
                return True
    return False


# Folded names (core/names.py) of a card's verification code: never stored once the card is known.
_CODE_KEYS = frozenset(
    {"cvv", "cvc", "cvv2", "cvc2", "cid", "verificationvalue", "securitycode", "cardsecuritycode"}
    | {"cardverificationvalue", "cardverificationcode"}
)
_KEYED_CODE = re.compile(rb'"([A-Za-z0-9_-]{3,40})"\s*:\s*("?)([0-9]{3,4})\2(?=\s*[,}\]])')


def mask_card_codes(raw: bytes) -> bytes:
    """``raw`` JSON text with the value of every field named like a card verification code
    (``cvv``, ``verificationValue``, ``securityCode`` …, folded) replaced by asterisks: wherever a
    card number may sit beside it (a dead letter refused for one, a value no field rule could read,
    what ``dlq show`` prints), the code goes too."""

    def mask(match: re.Match[bytes]) -> bytes:
        key, _, code = match.groups()
        if folded(key.decode()) not in _CODE_KEYS:
            return match.group(0)
        return b'"' + key + b'":"' + b"*" * len(code) + b'"'  # a number too becomes a string: JSON still

    return _KEYED_CODE.sub(mask, raw) if b'"' in raw else raw


def mask_card_data(raw: bytes) -> bytes:
    """``raw`` with its card numbers (:func:`mask_pans`) and verification codes
    (:func:`mask_card_codes`) masked: what a stored or printed copy of card data keeps."""
    return mask_card_codes(mask_pans(raw))
