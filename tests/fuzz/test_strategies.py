"""Hypothesis strategies shared by the fuzz tests, and a card-number finder independent of core/pan.py.

The other ``test_fuzz_*`` modules import from here; the tests below check the strategies themselves
(a generator that never makes a card number would let every "no card number logged" test pass).
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core.pan import looks_like_pan

__all__ = [
    "escaped_json",
    "json_values",
    "odd_text",
    "pan_runs",
    "pans",
    "surrogate_text",
    "truncations",
]

# A digit, then 12-18 more, each optionally after one space or dash; not inside a longer digit run.
_RUN = re.compile(r"(?<![0-9])[0-9](?:[ \-]?[0-9]){12,18}(?![0-9])")


def _luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit will sit to the right of this one
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _luhn_valid(digits: str) -> bool:
    return _luhn_check_digit(digits[:-1]) == digits[-1]


def pan_runs(text: str) -> list[str]:
    """Every Luhn-valid 13-19 digit run in ``text`` (single spaces or dashes allowed between digits)."""
    found = []
    for match in _RUN.finditer(text):
        digits = re.sub(r"[ \-]", "", match.group(0))
        if 13 <= len(digits) <= 19 and _luhn_valid(digits):
            found.append(match.group(0))
    return found


@st.composite
def pans(draw: st.DrawFn) -> str:
    """A Luhn-valid card number of 13-19 digits: plain, or grouped by spaces or dashes."""
    length = draw(st.integers(13, 19))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    digits = body + _luhn_check_digit(body)
    separator = draw(st.sampled_from(["", " ", "-"]))
    if not separator:
        return digits
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


# Text from every plane, including controls, combining marks, right-to-left and non-characters.
odd_text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", " ", "\u200b", "\u202e", "\ufeff", "é", "ﬁ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\x00", "\u2028", "٣٤٥", "🇺🇸"]
)

# Also lone surrogates: they cannot be UTF-8, but a JSON "\ud800" escape can carry one.
surrogate_text = st.text(
    st.characters(codec="utf-8") | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
)

_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
json_values = st.recursive(
    _scalars | odd_text | pans(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(odd_text, inner, max_size=5),
    max_leaves=25,
)


def truncations(raw: bytes) -> st.SearchStrategy[bytes]:
    """Every strict prefix of ``raw`` (including the empty one)."""
    return st.integers(0, len(raw) - 1).map(lambda cut: raw[:cut])


def escaped_json(value: Any) -> bytes:
    """JSON with every non-ASCII character escaped, lone surrogates included (orjson refuses them)."""
    return json.dumps(value, ensure_ascii=True).encode()


@given(pans())
def test_every_generated_card_number_is_one_to_the_project_and_to_the_finder(pan: str) -> None:
    assert looks_like_pan(pan)
    assert pan_runs(f"card {pan}.") == [pan]


@given(st.text("0123456789 -x", max_size=60))
def test_the_finder_agrees_with_luhn_on_arbitrary_digit_text(text: str) -> None:
    for run in pan_runs(text):
        assert looks_like_pan(run)
