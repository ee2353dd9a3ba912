"""A configured URL with a user name or password in it is refused at start, without quoting it:
the URL would be shown by ``repr(Settings)`` and by ``flexbridge check`` ("token granted by …")."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_settings
from core.merchants import load_merchants
from core.settings import Settings
from streams.ops.check import settings_checks

MID = "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31"


@pytest.mark.parametrize(
    "url", ["https://flex-user:s3cret@api.example/v1/", "https://flex-user@api.example/v1/"]
)
def test_a_flex_base_url_with_credentials_stops_the_worker_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("FLEXBRIDGE_FLEX__BASE_URL", url)
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "FLEXBRIDGE_FLEX__BASE_URL: Value error, must not carry a user name or password" in text
    assert "s3cret" not in text and "flex-user" not in text


def test_flexbridge_check_fails_on_it_without_quoting_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_FLEX__BASE_URL", "https://flex-user:s3cret@api.example/v1/")
    settings, _, [result] = settings_checks()
    assert settings is None and not result.ok and result.setting == "FLEXBRIDGE_FLEX__BASE_URL"
    assert "s3cret" not in result.detail


def test_a_canonical_url_with_credentials_stops_the_worker_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_WEB__CANONICAL_URL", "http://peer:s3cret@worker-3:6066")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "FLEXBRIDGE_WEB__CANONICAL_URL: Value error, must not carry" in str(err.value)
    assert "s3cret" not in str(err.value)
    monkeypatch.setenv("FLEXBRIDGE_WEB__CANONICAL_URL", "http://worker-3:6066")
    assert load_settings().web.canonical_url == "http://worker-3:6066"


def test_an_at_sign_in_the_path_is_no_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_FLEX__BASE_URL", "https://api.example/v1@2/")
    assert load_settings().flex.base_url == "https://api.example/v1@2/"


def test_a_merchants_webhook_url_with_credentials_is_refused_naming_the_merchant(tmp_path: Path) -> None:
    path = tmp_path / "merchants.toml"
    path.write_text(
        f'[[merchants]]\nmid = "{MID}"\nname = "acme"\napp_key = "k"\napp_secret = "s"\n'
        'routing = { mit = "api" }\nwebhook_url = "http://hook:s3cret@127.0.0.1:6080/webhooks/flex/acme"\n'
    )
    with pytest.raises(ConfigError) as err:
        load_merchants(Settings(merchants_file=path))
    text = str(err.value)
    assert 'merchant "acme"' in text and "webhook_url: Value error, must not carry a user name" in text
    assert "s3cret" not in text
