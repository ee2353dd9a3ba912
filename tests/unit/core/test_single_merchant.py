"""Without a merchants file, the single-merchant settings are the one merchant (DESIGN.md §2.9),
and each start-up check names the setting to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from core.config import ConfigError
from core.merchants import SINGLE_MERCHANT_NAME, load_merchants
from core.settings import Settings
from tests.unit.core.test_merchants import KEY, MID_A, OTHER_KEY


def single_settings(**flex: str | None) -> Settings:
    values = {"app_key": "k", "app_secret": "s", "mid": MID_A, "site_id": "site-9"} | flex
    return Settings.model_validate(
        {
            "flex": values,
            "webhook": {"subscriber_key": KEY, "previous_subscriber_key": OTHER_KEY},
            "sftp": {"username": "merchant", "key_path": "/keys/client"},
            "routing": {"mit": "api", "transmit": "sftp"},
        }
    )


def test_without_the_file_the_single_merchant_settings_are_the_one_merchant() -> None:
    settings = single_settings()
    m = load_merchants(settings).only
    assert m is not None and m.name == SINGLE_MERCHANT_NAME
    assert (m.mid, m.site_id) == (settings.flex.mid, settings.flex.site_id)
    assert (m.app_key, m.app_secret) == (settings.flex.app_key, settings.flex.app_secret)
    assert m.subscriber_key == settings.webhook.subscriber_key
    assert m.previous_subscriber_key == settings.webhook.previous_subscriber_key
    assert m.routing == settings.routing
    assert m.sftp is not None and (m.sftp.username, m.sftp.key_path) == ("merchant", Path("/keys/client"))


def test_the_single_merchant_needs_its_credentials() -> None:
    with pytest.raises(ConfigError, match="FLEXBRIDGE_FLEX__APP_SECRET"):
        load_merchants(single_settings(app_secret=None))


def test_the_single_merchant_key_is_checked_under_its_setting() -> None:
    settings = single_settings().model_copy(
        update={"webhook": Settings().webhook.model_copy(update={"subscriber_key": SecretStr("abcd")})}
    )
    with pytest.raises(ConfigError, match="FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY must decode to 64 bytes"):
        load_merchants(settings)


def test_an_empty_single_merchant_mid_names_its_setting() -> None:
    with pytest.raises(ConfigError, match="FLEXBRIDGE_FLEX__MID"):
        load_merchants(single_settings(mid=""))


@pytest.mark.parametrize("field", ["app_key", "app_secret"])
def test_a_blank_single_merchant_credential_names_its_setting(field: str) -> None:
    problem = f"FLEXBRIDGE_FLEX__{field.upper()}: Value error, must not be blank"
    with pytest.raises(ConfigError, match=problem):
        load_merchants(single_settings(**{field: "  "}))


def test_an_empty_sftp_username_names_its_setting() -> None:
    settings = single_settings()
    settings = settings.model_copy(update={"sftp": settings.sftp.model_copy(update={"username": ""})})
    with pytest.raises(ConfigError, match="FLEXBRIDGE_SFTP__USERNAME: String should have at least 1"):
        load_merchants(settings)


def test_the_merchants_file_setting_has_its_contract_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_MERCHANTS_FILE", "/etc/flexbridge/merchants.toml")
    assert Settings().merchants_file == Path("/etc/flexbridge/merchants.toml")
