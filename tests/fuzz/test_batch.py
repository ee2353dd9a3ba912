"""Property tests of the batch response parser (schemas/batch.py): any file is rows or
MalformedResponse (which moves it to the error folder), never another exception, never a card number
in the error text."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.batch import RESPONSE_COLUMNS, MalformedResponse, ResultRow, parse_response
from tests.fuzz.test_strategies import odd_text, pan_runs, pans, truncations


def _csv(rows: list[list[str]], header: tuple[str, ...] = RESPONSE_COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


GOOD = _csv([[str(i), f"ORD-{i}", f"key-{i}", "APPROVED", f"fx-{i}", "", ""] for i in range(1, 4)])


def _parse(raw: bytes) -> list[ResultRow] | MalformedResponse:
    """The parser's answer; anything but rows or MalformedResponse fails the test."""
    try:
        return parse_response(raw)
    except MalformedResponse as exc:
        assert str(exc) and not pan_runs(str(exc))
        return exc


def test_the_good_file_parses() -> None:
    assert [r.order_id for r in parse_response(GOOD)] == ["ORD-1", "ORD-2", "ORD-3"]


@given(st.binary(max_size=4096))
def test_arbitrary_bytes_are_rows_or_malformed(raw: bytes) -> None:
    _parse(raw)


@given(truncations(GOOD))
def test_a_truncated_file_is_a_prefix_of_the_rows_or_malformed(raw: bytes) -> None:
    answer = _parse(raw)
    if isinstance(answer, list):
        full = parse_response(GOOD)
        assert [r.sequence_number for r in answer] == [r.sequence_number for r in full[: len(answer)]]


cells = odd_text | pans() | st.integers().map(str) | st.just("")


@given(st.lists(st.lists(cells, max_size=9), max_size=8))
def test_rows_of_any_text_are_rows_or_malformed(rows: list[list[str]]) -> None:
    _parse(_csv(rows))


@given(st.sampled_from(["0", "-3", "1.5", "one", "", "٣", "99999999999999999999999"]), pans())
def test_a_bad_sequence_number_is_malformed_and_the_error_quotes_no_card_number(seq: str, pan: str) -> None:
    answer = _parse(_csv([[seq, pan, pan, "APPROVED", pan, pan, pan]]))
    if seq in ("0", "-3", "1.5", "one", ""):
        assert isinstance(answer, MalformedResponse)


@given(st.lists(st.sampled_from(RESPONSE_COLUMNS), unique=True, max_size=len(RESPONSE_COLUMNS) - 1))
def test_a_missing_column_is_malformed(header: list[str]) -> None:
    assert isinstance(_parse(_csv([], tuple(header))), MalformedResponse)


@settings(max_examples=20)
@given(
    st.sampled_from([131_073, 1_000_000]) | st.integers(1, 1_000_000),
    st.sampled_from(["cell", "rows", "quote", "nul"]),
)
def test_huge_or_odd_files_are_rows_or_malformed(size: int, shape: str) -> None:
    if shape == "cell":
        raw = _csv([["1", "ORD-1", "k", "APPROVED", "x" * size, "", ""]])
    elif shape == "rows":
        raw = GOOD + b"1,ORD-1,k,APPROVED,,,\n" * min(size, 50_000)
    elif shape == "quote":
        raw = GOOD + b'1,"ORD-1' + b"x" * size  # a quote never closed
    else:
        raw = GOOD.replace(b"ORD-1", b"ORD\x00" * min(size, 1000))
    _parse(raw)
