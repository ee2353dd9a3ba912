"""Reconciling each merchant on its own (streams/local/reconciliation.py), and the traffic that
carries each merchant's mid (streams/local/traffic.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from streams.local.reconciliation import (
    BatchTransmit,
    Observed,
    read_batch_transmits,
    reconcile,
    reconcile_merchants,
)
from streams.local.traffic import UNKNOWN_MERCHANT, UNKNOWN_MID, Planned, plan

ACME, BOLT = ("acme", "mid-acme"), ("bolt", "mid-bolt")


def _transmit(order_id: str, mid: str | None) -> dict[str, Any]:
    return {"path": "/v1/transmit", "status": 200, "body": {"orderId": order_id}, "mid": mid}


def _approval(order_id: str, merchant: tuple[str, str]) -> Planned:
    return Planned("approval", "approved", order_id, b"{}", f"evt-{order_id}", "TRANSMITTED", *merchant)


def test_without_merchants_the_plan_is_what_it_always_was() -> None:
    planned = plan(40, seed=3)
    assert all(p.merchant == "" and p.mid is None for p in planned)
    assert all(b'"mid"' not in p.value for p in planned)
    assert [p.key for p in planned] == [p.key for p in plan(40, seed=3, merchants=[ACME, BOLT])][:40]


def test_with_merchants_each_event_carries_its_merchants_mid() -> None:
    planned = plan(200, seed=3, merchants=[ACME, BOLT])
    named = [p for p in planned if p.merchant != UNKNOWN_MERCHANT]
    assert {p.merchant for p in named} == {"acme", "bolt"}
    for p in named:
        if p.kind != "bad-json":
            assert orjson.loads(p.value)["mid"] == p.mid == dict([ACME, BOLT])[p.merchant]
    unknown = [p for p in planned if p.merchant == UNKNOWN_MERCHANT]
    assert len(unknown) == 2 and {p.expect for p in unknown} == {"DLQ:unknown-merchant"}
    assert all(orjson.loads(p.value)["mid"] == UNKNOWN_MID for p in unknown)


def test_a_transmit_flex_saw_under_another_merchant_is_missing_for_its_own() -> None:
    planned = [_approval("o1", ACME), _approval("o2", BOLT)]
    seen = Observed([_transmit("o1", "mid-acme"), _transmit("o2", "mid-acme")], [], [])
    assert reconcile(planned, seen).ok  # all together, both were transmitted
    by_merchant = reconcile_merchants(planned, seen)
    assert by_merchant["acme"].ok
    assert not by_merchant["bolt"].ok and by_merchant["bolt"].rows["approval"].missing == 1


def test_a_transmit_batch_row_counts_once_however_often_its_file_is_read() -> None:
    planned = [_approval("o1", BOLT)]
    row = BatchTransmit("mid-bolt", "transmit_x.json", "o1")
    seen = Observed([], [], [], batch_transmits=[row, row])
    assert reconcile_merchants(planned, seen)["bolt"].ok
    twice = Observed([], [], [], batch_transmits=[row, BatchTransmit("mid-bolt", "transmit_y.json", "o1")])
    assert reconcile(planned, twice).duplicate_effects == 1


def test_batch_transmits_are_read_from_each_merchants_outbound_folders(tmp_path: Path) -> None:
    done = tmp_path / "acme" / "outbound" / "done"
    done.mkdir(parents=True)
    (done / "transmit_a.response.csv").write_text(
        "sequenceNumber,orderId,idempotencyKey,status\n1,o1,k1,SUCCESS\n2,o2,k2,REJECTED\n"
    )
    (done / "evaluate_a.response.csv").write_text(
        "sequenceNumber,orderId,idempotencyKey,status\n1,o3,k3,SUCCESS\n"
    )
    found = read_batch_transmits({"mid-acme": tmp_path / "acme" / "outbound"})
    assert found == [BatchTransmit("mid-acme", "transmit_a.response.csv", "o1")]
