"""One orderId, several merchants: the order table's key rule and which order a command addresses
(with ``mid``, without it when one merchant has the orderId, REJECTED as ambiguous otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from consumers.order_keys import order_key, resolve_command, status_mid
from core.merchants import Merchant, Merchants
from schemas.commands import OrderCommand
from schemas.order_state import OrderState
from schemas.status import status_of


def merchant(name: str, mid: str | None) -> Merchant:
    return Merchant(mid=mid, name=name, app_key=SecretStr("k"), app_secret=SecretStr("s"))


ACME, BOLT = merchant("acme", "mid-acme"), merchant("bolt", "mid-bolt")
BOTH = Merchants([ACME, BOLT])
WHEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def command(mid: str | None = None) -> OrderCommand:
    return OrderCommand(command_id="cmd-1", type="cancel", order_id="1001", mid=mid)


def state(mid: str | None) -> OrderState:
    return OrderState(order_id="1001", mid=mid, status="CAPTUREREQUIRED", updated_at=WHEN)


def test_the_key_names_the_merchant_only_when_the_table_is_keyed_by_merchant() -> None:
    assert order_key("1001", "mid-acme", by_merchant=True) == "mid-acme/1001"
    assert order_key("1001", "mid-bolt", by_merchant=True) != order_key("1001", "mid-acme", by_merchant=True)
    assert order_key("1001", "mid-acme", by_merchant=False) == "1001"  # one merchant: as always
    assert order_key("1001", None, by_merchant=True) == "1001"  # a status that names no merchant


def test_a_status_names_its_merchant_in_detail_mid() -> None:
    assert status_mid(status_of("1001", "APPROVED", "webhook", "e", detail={"mid": "mid-acme"})) == "mid-acme"
    assert status_mid(status_of("1001", "APPROVED", "webhook", "e")) is None
    assert status_mid(status_of("1001", "APPROVED", "webhook", "e", detail={"mid": ""})) is None


def test_without_mid_the_one_merchant_with_the_order_id_runs_it() -> None:
    found = resolve_command(command(), [state("mid-bolt")], BOTH)
    assert found.reason is None and found.merchant is BOLT and found.state == state("mid-bolt")


def test_without_mid_an_order_id_of_several_merchants_is_ambiguous() -> None:
    found = resolve_command(command(), [state("mid-acme"), state("mid-bolt")], BOTH)
    assert found.merchant is None and found.state is None
    assert found.reason == "ambiguous-order: orderId 1001 exists for merchants acme, bolt; give mid"


def test_with_mid_the_command_addresses_that_merchants_order_only() -> None:
    found = resolve_command(command("mid-bolt"), [state("mid-acme"), state("mid-bolt")], BOTH)
    assert found.reason is None and found.merchant is BOLT and found.state == state("mid-bolt")
    unseen = resolve_command(command("mid-bolt"), [state("mid-acme")], BOTH)  # bolt's not seen yet
    assert unseen.reason is None and unseen.merchant is BOLT and unseen.state is None


def test_a_mid_no_merchant_has_is_rejected() -> None:
    found = resolve_command(command("mid-nobody"), [state("mid-acme")], BOTH)
    assert found.merchant is None and found.reason is not None
    assert found.reason == "unknown-merchant: no merchant with the command's mid is served"  # in detail.mid


def test_an_unknown_order_or_one_of_no_served_merchant_is_left_to_the_caller_to_reject() -> None:
    none = resolve_command(command(), [], BOTH)
    assert none.state is None and none.merchant is None and none.reason is None
    stray = resolve_command(command(), [state("mid-gone")], BOTH)
    assert stray.state == state("mid-gone") and stray.merchant is None and stray.reason is None


def test_one_merchant_served_runs_every_command_as_today() -> None:
    one = Merchants([merchant("solo", None)])
    found = resolve_command(command(), [state(None)], one)
    assert found.merchant is not None and found.merchant.name == "solo" and found.state == state(None)
    assert resolve_command(command("any-mid"), [state(None)], one).merchant is not None
    assert resolve_command(command(), [], one).merchant is not None
