"""A mid matches its merchant in any case (Flex MIDs are GUIDs), everywhere a mid selects a merchant:
events (both paths), commands with ``mid``, the order table and ``GET /orders?mid=``; what is keyed
or stored carries the merchants file's spelling. Two merchants whose mids differ only in case stop
the worker; a braced ``{GUID}`` is another text and matches nobody (docs/processors.md)."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from consumers.intake import Refused, Routed, route_to_merchant
from consumers.order_keys import resolve_command
from consumers.sftp.intake import batch_item
from core.config import ConfigError
from core.merchants import Merchant, Merchants, load_merchants
from core.settings import RoutingSettings, Settings
from schemas.commands import OrderCommand
from schemas.status import status_of
from streams.local.traffic import make_event
from streams.runtime.metrics import Metrics
from streams.runtime.order_view import order_answer
from streams.runtime.orders import OrderBook

MID_A = "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31"  # as the merchants file spells it
MID_B = "0B7E2D44-91C3-4F5E-8A6B-3C2D1E0F9A87"  # a merchant configured in upper case


def merchant(name: str, mid: str, mit: str = "api") -> Merchant:
    routing = RoutingSettings(mit=mit, transmit="api")
    return Merchant(mid=mid, name=name, app_key=SecretStr("k"), app_secret=SecretStr("s"), routing=routing)


ACME, BOLT = merchant("acme", MID_A, mit="sftp"), merchant("bolt", MID_B)
BOTH = Merchants([ACME, BOLT])


def raw(mid: str) -> bytes:
    event = make_event("mit-rebill", "ORD-1", random.Random(4))
    assert isinstance(event, dict)
    return orjson.dumps({**event, "mid": mid})


def test_a_mid_selects_its_merchant_in_any_case() -> None:
    assert BOTH.for_event(MID_A.upper()) is ACME and BOTH.for_event(MID_B.lower()) is BOLT
    assert BOTH.by_mid(MID_A.upper()) is ACME and BOTH.for_event("5F1c6A8e" + MID_A[8:]) is ACME
    assert BOTH.for_event("{" + MID_A + "}") is None  # another spelling of the GUID: unknown-merchant


def test_an_events_mid_is_spelt_as_configured_once_routed() -> None:
    api = route_to_merchant(raw(MID_B.lower()), "evaluate", BOTH)
    assert isinstance(api, Routed) and api.merchant is BOLT and api.event.mid == MID_B
    sftp = route_to_merchant(raw(MID_A.upper()), "evaluate", BOTH)
    assert isinstance(sftp, Routed) and sftp.route == "sftp" and sftp.event.mid == MID_A
    braced = route_to_merchant(raw("{" + MID_A + "}"), "evaluate", BOTH)
    assert isinstance(braced, Refused) and braced.reason == "unknown-merchant"


def test_a_batch_record_carries_the_configured_mid_in_its_body() -> None:
    item = batch_item("evaluate", raw(MID_A.upper()), BOTH, 14)
    assert item is not None and item.merchant is ACME and item.body["mid"] == MID_A


def test_a_command_mid_in_another_case_addresses_the_merchants_order() -> None:
    orders = OrderBook({}, Metrics(), (MID_A, MID_B))
    status = status_of("1001", "CAPTUREREQUIRED", "evaluate", "e1", session_key="s", detail={"mid": MID_B})
    orders.on_statuses([(b"1001", status.model_dump_json(by_alias=True).encode(), 0)])
    command = OrderCommand(command_id="c1", type="cancel", order_id="1001", mid=MID_B.lower())
    found = resolve_command(command, orders.orders_of("1001"), BOTH)
    assert found.reason is None and found.merchant is BOLT
    assert found.state is not None and found.state.mid == MID_B


def test_the_order_table_keys_a_served_mid_in_its_configured_spelling() -> None:
    table: dict[str, bytes] = {}
    orders = OrderBook(table, Metrics(), (MID_A, MID_B))
    for mid, event in ((MID_A, "e1"), (MID_A.upper(), "e2")):  # a status naming it in upper case
        status = status_of("1001", "CAPTUREREQUIRED", "evaluate", event, session_key="s", detail={"mid": mid})
        orders.on_statuses([(b"1001", status.model_dump_json(by_alias=True).encode(), 0)])
    assert list(table) == [f"{MID_A}/1001"]  # one entry, under the key it always had
    state = orders.get("1001", MID_A.upper())
    assert state is not None and state.mid == MID_A and len(state.history) == 2
    body, code = order_answer(orders, "1001", MID_A.upper())
    assert code == 200 and body["orderId"] == "1001"


def test_two_merchants_whose_mids_differ_only_in_case_stop_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "merchants.toml"
    entries = [("acme", MID_A), ("bolt", MID_A.upper())]
    table = 'app_key = "k"\napp_secret = "s"\nrouting = { mit = "api" }\n'
    path.write_text("".join(f'[[merchants]]\nname = "{n}"\nmid = "{m}"\n{table}' for n, m in entries))
    with pytest.raises(ConfigError) as caught:
        load_merchants(Settings(merchants_file=path))
    message = str(caught.value)
    assert str(path) in message and 'merchant "bolt": mid:' in message and 'merchant "acme"' in message
    assert MID_A in message and MID_A.upper() in message and "case" in message
