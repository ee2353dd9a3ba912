"""Unit tests of the replay selection: windows, filters, loop guard and provenance headers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from schemas.replay import FORCE_HEADER
from streams.ops.merchant_names import merchant_mids
from streams.ops.selection import (
    Selection,
    matches,
    parse_duration,
    parse_time,
    parse_where,
    provenance_headers,
    replay_count,
)

EVENT = orjson.dumps({"orderId": "ORD-1", "isMIT": True, "transaction": {"responseCode": "05"}})


def test_durations_and_times_parse_or_say_what_is_expected() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1.5d") == timedelta(hours=36)
    with pytest.raises(ValueError, match=r"e\.g\. 2h"):
        parse_duration("2 hours")
    assert parse_time("1970-01-01T00:00:01Z") == 1000
    assert parse_time("1970-01-01T01:00:01+01:00") == 1000
    assert parse_time("1970-01-01T00:00:02") == 2000  # naive means UTC
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_time("yesterday")
    assert parse_where("transaction.responseCode=05") == ("transaction.responseCode", "05")
    with pytest.raises(ValueError, match="path=value"):
        parse_where("status")


def test_filters_match_keys_fields_case_insensitively_and_the_time_window() -> None:
    sel = Selection(topic="t", keys=("ORD-1",), where=(("TRANSACTION.responsecode", "05"), ("isMIT", "true")))
    assert matches(sel, b"ORD-1", EVENT, 5, [])
    assert not matches(sel, b"ORD-2", EVENT, 5, [])
    assert not matches(Selection(topic="t", where=(("isMIT", "false"),)), None, EVENT, 5, [])
    assert not matches(Selection(topic="t", where=(("a", "b"),)), None, b"{not json", 5, [])
    window = Selection(topic="t", from_ms=10, to_ms=20)
    assert [t for t in (9, 10, 19, 20) if matches(window, None, EVENT, t, [])] == [10, 19]
    dlq = Selection(topic="t", reasons=("schema",))
    assert matches(dlq, None, b"x", 0, [("dlq-reason", b"schema")])
    assert not matches(dlq, None, b"x", 0, [("dlq-reason", b"pan-detected")])


def test_the_merchant_filter_takes_the_dead_letters_header_else_the_values_mid() -> None:
    sel = Selection(topic="t", merchants=("acme",), mids=("mid-acme",))
    acme, other = orjson.dumps({"MID": " Mid-ACME "}), orjson.dumps({"mid": "mid-bolt"})
    assert matches(sel, None, acme, 0, [])  # an input record: its mid, in any case, the key too
    assert not matches(sel, None, other, 0, [])
    assert matches(sel, None, other, 0, [("dlq-merchant", b"acme")])  # the header decides
    assert not matches(sel, None, acme, 0, [("dlq-merchant", b"bolt")])
    assert not matches(sel, None, b"{not json", 0, [])
    assert not matches(sel, None, orjson.dumps({"mid": 7}), 0, [])


def test_merchant_names_are_resolved_from_the_merchants_file_or_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEXBRIDGE_MERCHANTS_FILE", raising=False)
    assert merchant_mids([]) == ()
    with pytest.raises(ValueError, match="--merchant needs the merchants file: FLEXBRIDGE_MERCHANTS_FILE"):
        merchant_mids(["acme"])
    path = tmp_path / "merchants.toml"
    path.write_text(
        '[[merchants]]\nname = "acme"\nmid = "MID-Acme"\n\n[[merchants]]\nname = "bolt"\nmid = "mid-bolt"\n'
    )
    monkeypatch.setenv("FLEXBRIDGE_MERCHANTS_FILE", str(path))
    assert merchant_mids(["acme"]) == ("mid-acme",)
    assert merchant_mids(["bolt", "acme"]) == ("mid-acme", "mid-bolt")
    with pytest.raises(ValueError, match=r"no merchant named 'cora' with a mid in .* \(acme, bolt\)"):
        merchant_mids(["acme", "cora"])


def test_provenance_headers_count_replays_and_drop_stale_ones() -> None:
    original = [("trace", b"abc"), ("dlq-reason", b"schema"), ("replay-count", b"1"), ("replay-id", b"old")]
    headers = provenance_headers(original, origin="t/0/7", replay_id="r-2", force=True, strip_dlq=True)
    as_dict = dict(headers)
    assert as_dict == {
        "trace": b"abc",
        "replay-of": b"t/0/7",
        "replay-id": b"r-2",
        "replay-count": b"2",
        FORCE_HEADER: b"1",
    }
    assert replay_count(headers) == 2
    assert replay_count([]) == 0
    kept = dict(provenance_headers(original, origin="t/0/7", replay_id="r", force=False))
    assert kept["dlq-reason"] == b"schema" and FORCE_HEADER not in kept
