"""``flexbridge reconcile --execute``'s text output: a line per lookup as it ends (order, merchant,
result), then a summary."""

from __future__ import annotations

from consumers.reconcile import candidates_of
from schemas.codec import encode_model
from schemas.status import status_of
from streams.ops.reconcile import _lookup_line, _summary, fold_statuses
from streams.runtime.reconcile import Lookup


def _candidate(order_id: str, mid: str) -> Lookup:
    status = status_of(order_id, "SUBMITTED", "evaluate", f"e-{order_id}", detail={"mid": mid})
    (candidate,) = candidates_of(fold_statuses([encode_model(status)]).values())
    return Lookup(candidate, "failed")


def test_a_lookup_line_names_the_order_its_merchant_and_the_result() -> None:
    line = _lookup_line(_candidate("ORD-1", "mid-acme"), {"mid-acme": "acme"})
    assert line.split() == ["ORD-1", "acme", "failed"]
    assert _lookup_line(_candidate("ORD-2", "mid-bolt"), {}).split() == ["ORD-2", "mid-bolt", "failed"]


def test_the_summary_counts_the_results() -> None:
    lookups = [_candidate("ORD-1", "m"), _candidate("ORD-2", "m")]
    assert _summary(lookups) == "looked up at Flex: failed 2"
    assert _summary([]) == "looked up at Flex: none"
