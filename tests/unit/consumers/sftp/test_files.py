"""Unit tests of the batch file format, the file builder and the result registry (no I/O)."""

from __future__ import annotations

import orjson
import pytest

from consumers.sftp.files import BatchBuilder
from consumers.sftp.registry import BatchRegistry, SentFile, SentRecord, encode_entry
from schemas.batch import (
    RESPONSE_COLUMNS,
    MalformedResponse,
    Manifest,
    data_name,
    encode_file,
    file_name,
    parse_file_name,
    parse_response,
    response_name,
    temp_name,
)
from schemas.status import OrderStatus
from streams.runtime.batch.poller import result_label, result_status


def test_names_are_deterministic_and_parse_back() -> None:
    name = file_name("evaluate", "t-1.payments/declined", 3, 42)
    assert name == "evaluate_t-1.payments-declined_p0003_o000000000042.json"
    parsed = parse_file_name(name)
    assert parsed is not None and (parsed.kind, parsed.partition, parsed.first_offset) == ("evaluate", 3, 42)
    assert parsed.topic == "t-1.payments-declined"
    response = response_name(name)
    assert response.endswith(".response.csv") and data_name(response) == name
    assert parse_file_name(response) == parsed
    assert temp_name(name).startswith(".") and parse_file_name("notes.txt") is None


def _builder(kind: str = "evaluate") -> BatchBuilder:
    return BatchBuilder(kind, "payments.declined", 1, 10, opened_at=0.0)  # type: ignore[arg-type]


def test_builder_renders_header_records_and_manifest() -> None:
    builder = _builder()
    for offset in (10, 12):
        body = {
            "orderId": f"O{offset}",
            "idempotencyKey": f"k{offset}",
            "mid": "m-1",
            "expiryDateUtc": "2030-01-01T00:00:00Z",
        }
        raw = builder.fits(body, 10_000)
        assert raw is not None
        builder.add(offset, raw, body, f"evt-{offset}")
    sealed = builder.seal("tok-1")
    document = orjson.loads(sealed.data)
    assert document["header"] == {
        "mid": "m-1",
        "authorizationToken": "tok-1",
        "expiryDateUtc": "2030-01-01T00:00:00Z",
    }
    assert [r["sequenceNumber"] for r in document["records"]] == ["1", "2"]
    assert document["records"][1]["orderId"] == "O12"
    m = sealed.manifest
    assert (m.records, m.first_offset, m.last_offset, m.size) == (2, 10, 12, len(sealed.data))
    # a re-upload with a refreshed token has the same records digest, another file digest
    again = builder.seal("tok-2")
    assert again.manifest.records_sha256 == m.records_sha256 and again.manifest.sha256 != m.sha256
    assert [s.event_id for s in builder.sent] == ["evt-10", "evt-12"]


def test_sent_records_keep_the_amount_for_their_pending_status_only() -> None:
    builder = _builder()
    transactions = [{"amount": 1999, "currency": "eur"}, {"amount": "19.99"}]
    for offset, transaction in enumerate(transactions, start=10):
        body = {"orderId": f"O{offset}", "idempotencyKey": f"k{offset}", "transaction": transaction}
        raw = builder.fits(body, 10_000)
        assert raw is not None
        builder.add(offset, raw, body, f"evt-{offset}")
    assert [(s.amount, s.currency) for s in builder.sent] == [(1999, "EUR"), (None, None)]
    entry = orjson.loads(encode_entry(SentFile.of("f.json", 0.0, builder.sent)))
    assert entry["records"] == [[1, "O10", "evt-10", "k10"], [2, "O11", "evt-11", "k11"]]  # as before


def test_builder_buffer_renders_what_the_list_form_renders() -> None:
    builder = _builder()
    raws = []
    for offset in range(10, 15):
        body = {"orderId": f"O{offset}", "idempotencyKey": f"k{offset}", "mid": "m-1"}
        raw = builder.fits(body, 10_000)
        assert raw is not None
        raws.append(raw)
        builder.add(offset, raw, body, f"evt-{offset}")
    sealed = builder.seal("tok")
    assert sealed.data == encode_file(builder.header("tok"), raws)
    expected = Manifest.of(parse_file_name(sealed.name), sealed.name, sealed.data, raws, 14)  # type: ignore[arg-type]
    assert sealed.manifest == expected and len(builder) == 5


def test_builder_refuses_a_record_past_the_byte_limit_but_always_takes_the_first() -> None:
    builder = _builder("transmit")
    big = {"orderId": "x" * 500}
    first = builder.fits(big, 600)
    assert first is not None
    builder.add(1, first, big, "e1")
    assert builder.fits(big, 600) is None
    assert orjson.loads(builder.seal("t").data)["header"]["authorization"] == "Bearer t"


def _csv(*rows: str) -> bytes:
    return ("\n".join([",".join(RESPONSE_COLUMNS), *rows]) + "\n").encode()


def test_response_rows_parse_and_become_statuses() -> None:
    rows = parse_response(
        _csv("1,O1,k1,SUBMITTED,osk-1,,", "2,O2,k2,REJECTED,,ValidationFailed,Transaction: required")
    )
    sent = SentRecord(1, "O1", "evt-1", "k1")
    ok = result_status("f.json", rows[0], sent)
    assert (ok.status, ok.order_session_key, ok.event_id, ok.source) == (
        "SUBMITTED",
        "osk-1",
        "evt-1",
        "batch",
    )
    bad = result_status("f.json", rows[1], None)
    assert bad.status == "REJECTED" and bad.reason == "Transaction: required" and bad.order_id == "O2"
    assert bad.event_id == "batch:f.json#2" and bad.detail["errorCode"] == "ValidationFailed"
    assert isinstance(ok, OrderStatus)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe garbage", "not UTF-8"),
        (b"a,b,c\n1,2,3\n", "missing columns"),
        (_csv("zero,O1,k1,SUBMITTED,,,"), "line 2"),
    ],
)
def test_malformed_response_files_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedResponse, match=reason):
        parse_response(raw)


def test_registry_matches_results_and_reports_overdue_records() -> None:
    now = [0.0]
    registry = BatchRegistry(clock=lambda: now[0])
    registry.add("a.json", [SentRecord(1, "O1", "e1", "k1"), SentRecord(2, "O2", "e2", "k2")])
    assert registry.match("a.json", 1) == SentRecord(1, "O1", "e1", "k1")
    assert registry.match("a.json", 1) is None and registry.outstanding == 1
    assert registry.overdue(10) == []
    now[0] = 11
    assert registry.overdue(10) == [("a.json", SentRecord(2, "O2", "e2", "k2"))]
    assert len(registry) == 0


def test_a_result_status_flexbridge_does_not_know_is_counted_as_other() -> None:
    labels = [result_label(s) for s in ("approved", "REJECTED", "Success", "approved!", "x" * 300)]
    assert labels == ["APPROVED", "REJECTED", "SUCCESS", "OTHER", "OTHER"]
