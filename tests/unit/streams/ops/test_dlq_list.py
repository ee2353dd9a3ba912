"""``flexbridge dlq list``: a reason's ``latest`` is its dead letter that failed last, though the
DLQ is read one partition after another."""

from __future__ import annotations

from dataclasses import replace

import orjson
from aiokafka import ConsumerRecord

from streams.ops.dlq import ReasonGroup, merchant_of
from streams.runtime.metrics import NO_MERCHANT


def _dead(
    partition: int, offset: int, failed_at: str | None
) -> tuple[ConsumerRecord[bytes, bytes], dict[str, str]]:
    headers = {"dlq-reason": "schema", "dlq-source-topic": "payments.declined"}
    if failed_at is not None:
        headers["dlq-failed-at"] = failed_at
    record = ConsumerRecord("payments.dlq", partition, offset, 0, 0, None, b"{}", None, 0, 0, [])
    return record, headers


def test_the_latest_is_the_last_to_fail_whatever_the_partition_order() -> None:
    group = ReasonGroup("schema")
    for partition, offset, at in [(0, 5, "2026-12-05T01:00:09+00:00"), (1, 2, "2026-12-05T01:00:01+00:00")]:
        group.add(*_dead(partition, offset, at), "acme")
    assert (group.example, group.first_failed_at, group.last_failed_at) == (
        "0:5",
        "2026-12-05T01:00:01+00:00",
        "2026-12-05T01:00:09+00:00",
    )
    group.add(*_dead(2, 0, None), "acme")  # no failure time: the one read last stands in
    assert (group.count, group.example, group.last_failed_at) == (3, "2:0", "2026-12-05T01:00:09+00:00")


def test_a_dead_letter_of_no_known_merchant_is_counted_under_the_metrics_label() -> None:
    record, headers = _dead(0, 1, None)  # {} : no dlq-merchant header, no mid
    assert merchant_of(record, headers) == NO_MERCHANT == "(unknown)"


def test_a_dead_letter_without_the_header_is_counted_by_the_merchants_files_name_for_its_mid() -> None:
    """Dead letters written before workers named the merchant of a refused record: the mid is looked
    up in the merchants file (any case); a mid it does not know stays ``mid …``."""
    names = {"mid-acme": "acme"}
    record, headers = _dead(0, 1, None)
    of_mid = {
        mid: merchant_of(replace(record, value=orjson.dumps({"mid": mid})), headers, names)
        for mid in ("MID-ACME", "mid-nobody")
    }
    assert of_mid == {"MID-ACME": "acme", "mid-nobody": "mid mid-nobody"}
    assert merchant_of(record, {**headers, "dlq-merchant": "bolt"}, names) == "bolt"  # the header first
