"""A merchant's Flex app key and secret stay ``SecretStr`` from the settings (or the merchants file)
to the token request: no rendering of the credentials a FlexClient holds shows them."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import SecretStr

from consumers.flex.merchant import Credentials
from core.merchants import Merchant
from core.settings import FlexSettings

KEY, SECRET = "app-key-1", "app-secret-1"
SETTINGS = FlexSettings(app_key=SecretStr(KEY), app_secret=SecretStr(SECRET), mid="mid-1")
MERCHANT = Merchant(mid="mid-1", name="acme", app_key=SecretStr(KEY), app_secret=SecretStr(SECRET))


@pytest.mark.parametrize(
    "credentials", [Credentials.of_settings(SETTINGS), Credentials.of_merchant(MERCHANT)]
)
def test_no_rendering_of_the_credentials_shows_the_app_key_or_secret(credentials: Credentials) -> None:
    shown = [repr(credentials), str(dataclasses.asdict(credentials))]
    shown += [f"{getattr(credentials, f.name)}" for f in dataclasses.fields(credentials)]
    assert not [text for text in shown if KEY in text or SECRET in text]
    assert credentials.token_body() == {"AppKey": KEY, "AppSecret": SECRET}  # the one place they are read


def test_an_empty_secret_is_an_unset_one() -> None:
    credentials = Credentials.of_settings(SETTINGS.model_copy(update={"app_secret": SecretStr("")}))
    assert credentials.app_secret is None and not credentials.complete


def test_credentials_compare_by_their_values() -> None:
    """FlexClient.for_merchant reuses the single-merchant client for a merchant with its credentials."""
    same = Credentials.of_merchant(MERCHANT.model_copy(update={"name": "default"}))
    assert same == Credentials.of_settings(SETTINGS)
    other = MERCHANT.model_copy(update={"name": "default", "app_secret": SecretStr("rotated")})
    assert Credentials.of_merchant(other) != Credentials.of_settings(SETTINGS)
