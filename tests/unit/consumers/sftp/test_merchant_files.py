"""Unit tests of batch files per merchant: names, the records a merchant's file takes, its header."""

from __future__ import annotations

import random
from typing import Any

import orjson
from pydantic import SecretStr

from consumers.sftp.files import BatchBuilder, file_merchant
from consumers.sftp.intake import batch_item
from consumers.sftp.registry import BatchRegistry, SentRecord
from core.merchants import SINGLE_MERCHANT_NAME, Merchant, Merchants, SftpAccount
from core.settings import RoutingSettings
from schemas.batch import data_name, file_name, parse_file_name, response_name
from streams.local.traffic import make_event

ACME_MID, BOLT_MID = "0a9c3a4e-1111-4c7a-9e10-2d4b6f8a0c31", "1b8d2b5f-2222-4c7a-9e10-2d4b6f8a0c32"


def merchant(name: str, mid: str | None, **routing: Any) -> Merchant:
    return Merchant(
        mid=mid,
        name=name,
        site_id=f"site-{name}",
        app_key=SecretStr("k"),
        app_secret=SecretStr("s"),
        routing=RoutingSettings(**routing),
        sftp=SftpAccount(username=f"{name}-sftp"),
    )


ACME = merchant("acme", ACME_MID, mit="sftp")
BOLT = merchant("bolt", BOLT_MID, mit="api")
MANY = Merchants([ACME, BOLT])


def mit(order_id: str, mid: str | None) -> bytes:
    event = make_event("mit-rebill", order_id, random.Random(order_id))
    assert isinstance(event, dict)
    return orjson.dumps(event if mid is None else {**event, "mid": mid})


def test_a_merchants_file_name_carries_its_name_and_parses_back() -> None:
    name = file_name("evaluate", "payments.declined", 3, 42, "acme")
    assert name == "evaluate_payments.declined_p0003_o000000000042_acme.json"
    parsed = parse_file_name(name)
    assert parsed is not None and (parsed.merchant, parsed.partition, parsed.first_offset) == ("acme", 3, 42)
    assert parse_file_name(response_name(name)) == parsed and data_name(response_name(name)) == name
    assert file_name("evaluate", "payments.declined", 3, 42, "bolt") != name  # same offset, other merchant


def test_the_single_merchant_settings_keep_the_names_without_a_merchant() -> None:
    single = merchant(SINGLE_MERCHANT_NAME, None)
    assert file_merchant(single, Merchants([single])) is None
    assert file_merchant(ACME, MANY) == "acme"
    name = file_name("evaluate", "payments.declined", 3, 42, None)
    assert name == "evaluate_payments.declined_p0003_o000000000042.json"
    parsed = parse_file_name(name)
    assert parsed is not None and parsed.merchant is None


def test_a_record_goes_to_its_merchants_file_only_when_its_merchant_routes_it_to_sftp() -> None:
    item = batch_item("evaluate", mit("O-1", ACME_MID), MANY, 14)
    assert item is not None and item.merchant is ACME
    assert item.body["mid"] == ACME_MID and item.body["siteId"] == "site-acme"
    assert batch_item("evaluate", mit("O-2", BOLT_MID), MANY, 14) is None  # bolt sends MIT by the API
    assert batch_item("evaluate", mit("O-3", "no-such-mid"), MANY, 14) is None  # the bridge's DLQ
    assert batch_item("evaluate", mit("O-4", None), MANY, 14) is None  # no mid, two merchants


def test_without_a_mid_the_one_merchant_takes_the_record_with_its_defaults() -> None:
    only = Merchants([ACME])
    item = batch_item("evaluate", mit("O-5", None), only, 14)
    assert item is not None and item.merchant is ACME and item.body["mid"] == ACME_MID


def test_the_header_carries_the_merchants_mid_and_token() -> None:
    builder = BatchBuilder("evaluate", "payments.declined", 0, 7, 0.0, merchant="acme", mid=ACME_MID)
    item = batch_item("evaluate", mit("O-6", ACME_MID), MANY, 14)
    assert item is not None
    raw = builder.fits(item.body, 1 << 20)
    assert raw is not None
    builder.add(7, raw, item.body, item.event_id)
    sealed = builder.seal("acme-token")
    header = orjson.loads(sealed.data)["header"]
    assert (header["mid"], header["authorizationToken"]) == (ACME_MID, "acme-token")
    assert sealed.name.endswith("_acme.json")
    manifest = sealed.manifest.model_dump(by_alias=True)
    assert manifest["file"] == sealed.name and manifest["firstOffset"] == 7


def test_each_merchants_overdue_records_are_reconciled_on_their_own() -> None:
    now = [1000.0]
    registry = BatchRegistry(clock=lambda: now[0])
    acme = file_name("evaluate", "t", 0, 1, "acme")
    bolt = file_name("evaluate", "t", 0, 2, "bolt")
    registry.add(acme, [SentRecord(1, "A-1", "e1", "k1")])
    registry.add(bolt, [SentRecord(1, "B-1", "e2", "k2")])
    assert registry.waiting() == {"acme", "bolt"}
    now[0] += 100
    assert [name for name, _ in registry.overdue(50, merchant="bolt")] == [bolt]
    assert registry.waiting() == {"acme"}
    assert [r.order_id for _, r in registry.overdue(50, merchant="acme")] == ["A-1"]
