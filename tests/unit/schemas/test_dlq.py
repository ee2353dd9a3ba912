"""The dlq-* headers flexbridge adds to a dead letter (schemas/dlq.py)."""

from __future__ import annotations

from schemas.dlq import dlq_headers, dlq_source


def _error_header(error: str) -> bytes:
    headers = dlq_headers(reason="schema", error=error, topic="payments.declined", partition=0, offset=5)
    return dict(headers)["dlq-error"]


def test_the_error_text_carries_no_card_number() -> None:
    """Whatever message a caller passes: a card number it quotes is masked to its last four digits."""
    assert _error_header("bad field 'x': 4111-1111-1111-1111") == b"bad field 'x': ************1111"
    assert _error_header("order 1234567890123 failed") == b"order 1234567890123 failed"  # no Luhn: kept


def test_the_error_text_is_cut_after_masking() -> None:
    """Cut first, a card number across the 1,000th character would leave its first digits in clear."""
    error = _error_header("x" * 990 + "4111111111111111")
    assert len(error) == 1000 and error.endswith(b"x**********")


def test_a_dead_letters_source_is_read_as_it_was_written() -> None:
    headers = dlq_headers(reason="schema", error="x", topic="payments.declined", partition=3, offset=1041)
    assert dlq_source(headers) == ("payments.declined", 3, 1041)
    assert dlq_source([h for h in headers if h[0] != "dlq-source-offset"]) is None
    assert dlq_source([(k, b"-1" if k == "dlq-source-offset" else v) for k, v in headers]) is None
    assert dlq_source(None) is None
