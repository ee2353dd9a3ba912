"""The event rule of the merchants (DESIGN.md §2.9): which merchant an event's ``mid`` selects, and
the lookups the flows use."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from core.config import ConfigError
from core.merchants import SINGLE_MERCHANT_NAME, Merchant, Merchants

MID_A = "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31"
MID_B = "0b7e2d44-91c3-4f5e-8a6b-3c2d1e0f9a87"


def merchant(name: str, mid: str | None) -> Merchant:
    return Merchant(mid=mid, name=name, app_key=SecretStr("k"), app_secret=SecretStr("s"))


def test_an_events_mid_selects_its_merchant() -> None:
    acme, globex = merchant("acme", MID_A), merchant("globex", MID_B)
    merchants = Merchants([acme, globex])
    assert merchants.for_event(MID_A) is acme and merchants.for_event(MID_B) is globex
    assert merchants.for_event("9d0c7b1a-0000-4000-8000-000000000000") is None  # unknown-merchant
    assert merchants.for_event(None) is None  # no mid, several merchants: unknown-merchant


def test_with_one_merchant_an_event_without_mid_is_its_own() -> None:
    acme = merchant("acme", MID_A)
    merchants = Merchants([acme])
    assert merchants.for_event(None) is acme and merchants.for_event(MID_A) is acme
    assert merchants.for_event(MID_B) is None  # a mid it does not have is still unknown


def test_a_merchant_without_mid_takes_every_event() -> None:
    anyone = merchant(SINGLE_MERCHANT_NAME, None)
    merchants = Merchants([anyone])
    assert merchants.for_event(None) is anyone and merchants.for_event(MID_B) is anyone


def test_lookups_iteration_and_only() -> None:
    acme, globex = merchant("acme", MID_A), merchant("globex", MID_B)
    merchants = Merchants([acme, globex])
    assert list(merchants) == [acme, globex] and len(merchants) == 2 and merchants.only is None
    assert merchants.by_mid(MID_B) is globex and merchants.by_name("acme") is acme
    assert merchants.by_mid("nope") is None and merchants.by_name("nope") is None
    assert repr(merchants) == "Merchants(acme, globex)"


def test_a_merchant_without_mid_must_be_the_only_one() -> None:
    with pytest.raises(ConfigError, match='merchant "b": mid: required when more than one'):
        Merchants([merchant("a", MID_A), merchant("b", None)])


def test_no_merchant_is_refused() -> None:
    with pytest.raises(ConfigError, match="no merchant"):
        Merchants([])
