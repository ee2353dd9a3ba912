"""``flexbridge dlq list``: a reason's ``latest`` is its dead letter that failed last, though the
DLQ is read one partition after another; its table and a plan's show times to the second."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest
from aiokafka import ConsumerRecord
from rich.console import Console

from core.settings import Settings, TopicSettings
from streams.ops.cli import _config_error
from streams.ops.dlq import ReasonGroup, merchant_of
from streams.ops.scan import NoSuchTopic, ReplayError
from streams.ops.view import _plan_table, print_groups, short_time
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


def test_the_table_shows_failure_times_to_the_second_in_utc_and_the_json_keeps_them_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = ReasonGroup("schema")
    group.add(*_dead(0, 5, "2026-12-05T03:00:09.123456+02:00"), "acme")
    print_groups([group], as_json=False)
    table = capsys.readouterr().out
    assert "2026-12-05 01:00:09Z" in table
    assert ".123456" not in table
    print_groups([group], as_json=True)
    listed = orjson.loads(capsys.readouterr().out)["reasons"][0]
    assert listed["firstFailedAt"] == "2026-12-05T03:00:09.123456+02:00"


def test_a_time_that_is_no_iso_time_is_shown_as_it_is() -> None:
    assert (short_time(None), short_time("yesterday")) == ("-", "yesterday")
    assert short_time("2026-12-05T01:00:09") == "2026-12-05 01:00:09"  # no zone: none is made up


def test_a_plan_table_shows_its_partitions_times_to_the_second() -> None:
    row = {"partition": 3, "records": 2, "toSend": 2, "finished": 0, "refused": 0, "firstOffset": 7}
    row |= {"lastOffset": 8, "firstTime": "2026-12-05T01:00:09.500000+00:00", "lastTime": None}
    row |= {"deadLettered": None, "noOutcome": None}  # a topic whose outcomes are not tracked
    totals = {k: row[k] for k in ("records", "toSend", "finished", "refused", "deadLettered", "noOutcome")}
    plan = {"action": "replay", "replayId": "r1", "selection": {"topic": "payments.declined"}}
    plan |= {
        "targets": ["payments.declined"],
        "partitions": [row],
        "totals": totals,
        "options": {"force": False},
    }
    console = Console(width=200, record=True)
    console.print(_plan_table(plan))
    text = console.export_text()
    assert "2026-12-05 01:00:09Z" in text
    assert ".500000" not in text
    assert "no outcome" not in text and "dead-lettered" not in text


def test_a_dead_letter_topic_that_does_not_exist_names_its_setting() -> None:
    settings = Settings.model_construct(topics=TopicSettings(dlq="payments.dlqq"))
    missing = _config_error(NoSuchTopic("payments.dlqq"), settings)
    assert str(missing).startswith("FLEXBRIDGE_TOPICS__DLQ: topic 'payments.dlqq' does not exist")
    other = _config_error(NoSuchTopic("payments.declined"), settings)  # no setting of the verb's
    assert str(other) == "topic 'payments.declined' does not exist (or has no partitions)"
    assert str(_config_error(ReplayError("no replay 'r1'"), settings)) == "no replay 'r1'"
