from __future__ import annotations

import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.mit import mit_events
from core.pan import find_pan, looks_like_pan, luhn_ok, mask_card_codes, mask_pans, redact_pan


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError


@pytest.mark.parametrize(
    "value",
    [
        "4111111111111111",
        "4000002760003184",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "4111\t1111\t1111\t1111",
        "4111\n1111\r\n1111 / 1111",
        4111111111111111,
        "378282246310005",
        "6011111111111117",
        "4222222222222",
    ],
)
def test_pans_are_detected(value: object) -> None:
    assert looks_like_pan(value)


@pytest.mark.parametrize(
    "value",
    [
        "4111111111111112",
        "d3e10716-6aac-4eb8-a74d-c1a3027f1d96",
        "tok_4111111111111111x",
        "411111111111",
        "41111111111111111111",
        "",
        None,
        True,
        "４１１１１１１１１１１１１１１１",
    ],
)
def test_non_pans_are_not(value: object) -> None:
    assert not looks_like_pan(value)


def test_mask_keeps_only_last_four() -> None:
    raw = b'{"cardNumber":"4111111111111111","id":"1234567890123","amount":1999}'
    masked = mask_pans(raw)
    assert b"4111111111111111" not in masked
    assert b"************1111" in masked
    assert b'"1234567890123"' in masked  # fails Luhn: untouched


@given(st.from_regex(r"[1-9][0-9]{11,17}", fullmatch=True))
def test_every_luhn_valid_number_is_caught_and_masked(prefix: str) -> None:
    pan = _luhn_complete(prefix)
    assert looks_like_pan(pan)
    assert pan.encode() not in mask_pans(b'{"pan":"' + pan.encode() + b'"}')


# --- mask_pans: every shape find_pan accepts, as raw JSON text shows it ---


@pytest.mark.parametrize(
    "raw",
    [
        b'{"pan":"4111  1111  1111  1111"}',
        b'{"pan":"4111 - 1111 -- 1111   1111"}',
        b'{"pan":"\\u0034\\u0031\\u0031\\u0031111111111111"}',
        b'{"pan":"4111\\u00201111\\u002D1111\\u002d1111"}',
        b'{"pan":4111111111111111.0}',
        b'{"pan":4.111111111111111e15}',
        b'{"pan":41111111111111.11e2}',
        b'{"pan":0.4111111111111111E+16}',
        b'{"pan":[12 4111111111111111]}',  # broken JSON: the PAN runs into another number
        b'{"pan":"4111.1111.1111.1111"}',
        b'{"pan":"4111/1111/1111/1111"}',
        b'{"pan":"4111\\/1111\\/1111\\/1111"}',
        b'{"pan":"4111\\t1111\\n1111\\r\\n1111"}',
        b'{"pan":"4111\\u002e1111\\u002F1111\\u00091111"}',
        b'{"pan":"4111111111111111 exp 12/26"}',
        b'{"pan":"\\u00204111111111111111"}',  # a run after an escaped space
    ],
)
def test_every_shape_of_a_pan_is_masked(raw: bytes) -> None:
    masked = mask_pans(raw)
    assert re.search(rb"\*{9}[0-9]{4}", masked)  # the last four, behind asterisks
    text = re.sub(r"[\s\-./]", "", masked.decode("unicode_escape"))
    assert "41111111111" not in text and "11111111111" not in text


def test_a_pan_inside_a_longer_run_is_masked_with_the_run() -> None:
    run = "99 4111111111111111"
    assert not luhn_ok(run.replace(" ", ""))  # the run as a whole is no card number
    assert redact_pan(f"order {run} declined") == "order **************1111 declined"
    assert redact_pan("ref 41111111111111110") == "ref *************1110"
    assert redact_pan("ref 123456789012345678901234") == "ref ********************1234"


def test_ordinary_numbers_and_events_are_kept() -> None:
    text = b'{"amount":1999,"price":"19.99","at":"2026-12-05T01:13:54.968770Z","phone":"+1 555-0100",'
    text += b'"ip":"203.0.113.200","id":"79cb9e86-830c-71c2-cdcc-69292f45e678","n":1.5e3,"t":"1234567890123"}'
    assert mask_pans(text) == text
    event = next(iter(mit_events(1, seed=11)))[1]
    assert mask_pans(event) == event


_JSON_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "/": "\\/"}


def _json_string(text: str, escaped: list[bool]) -> bytes:
    """``text`` as a JSON string literal, its i-th character a \\u escape when ``escaped[i]`` (hex
    digits in either case: ``\\u002d``, ``\\u002D``), else as itself, or as its short escape for
    a tab, a line break and (at odd places) a slash."""
    chars = []
    for i, (c, escape) in enumerate(zip(text, escaped, strict=True)):
        if escape:
            chars.append(f"\\u{ord(c):04X}" if i % 2 else f"\\u{ord(c):04x}")
        else:
            chars.append(_JSON_ESCAPES.get(c, c) if c != "/" or i % 2 else c)
    return ('"' + "".join(chars) + '"').encode()


@given(
    st.from_regex(r"[1-9][0-9]{11,17}", fullmatch=True),
    st.lists(
        st.sampled_from(["", "", "", " ", "-", "  ", " - ", ".", "/", "\t", "\n", "\r\n", " / "]),
        min_size=18,
        max_size=18,
    ),
    st.lists(st.booleans(), min_size=80, max_size=80),
    st.sampled_from(["", "exp 12/26 ", "card: "]),
    st.sampled_from(["", " exp 12/26", " 12/26", "."]),
)
def test_whatever_find_pan_refuses_mask_pans_masks(
    prefix: str, gaps: list[str], escaped: list[bool], before: str, after: str
) -> None:
    """The dead letter of a refused record (mask_pans of its bytes) holds no card number find_pan sees,
    however its digits are spaced and escaped and whatever text is around it."""
    pan = _luhn_complete(prefix)
    text = before + pan[0] + "".join(gap + digit for gap, digit in zip(gaps, pan[1:], strict=False)) + after
    raw = b'{"paymentMethod":{"cardNumber":' + _json_string(text, escaped[: len(text)]) + b"}}"
    assert find_pan(orjson.loads(raw)) == "paymentMethod.cardNumber"
    masked = orjson.loads(mask_pans(raw))
    assert find_pan(masked) is None
    assert pan[:-4] not in re.sub(r"[\s\-./]", "", masked["paymentMethod"]["cardNumber"])


def test_verification_codes_are_masked_by_field_name_and_nothing_else() -> None:
    raw = (
        b'{"paymentMethod":{"verificationValue":"999","CVV": 1234 ,"card_security-code":"321"},'
        b'"amount":1234,"cvc2":"12345","id":"999"}'
    )
    masked = mask_card_codes(raw)
    assert orjson.loads(masked) == {
        "paymentMethod": {"verificationValue": "***", "CVV": "****", "card_security-code": "***"},
        "amount": 1234,
        "cvc2": "12345",  # no code: five digits
        "id": "999",
    }


def test_redact_pan_keeps_a_uuid_whole_and_masks_the_card_number_beside_it() -> None:
    key = "41111111-1111-1111-1111-111111111111"  # an orderSessionKey whose groups are all digits
    text = f"order {key}: refund of 4111 1111 1111 1111 refused"
    assert redact_pan(text) == f"order {key}: refund of ************1111 refused"
    assert redact_pan(f"evt-{key}") == f"evt-{key}"  # an eventId in a log line
