"""``flexbridge check``'s webhook keys: with a merchants file, one result per merchant, the
receiver reported on at each merchant's path (it was reported off: no FLEXBRIDGE_WEBHOOK__ key)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from core.merchants import Merchants, load_merchants
from core.settings import Settings
from streams.ops.check_webhooks import webhook_checks

ROUTES = 'routing = { mit = "api" }\n'


def key(seed: str) -> str:
    return base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode()


def merchant(name: str, n: int, extra: str = "") -> str:
    mid = f"0a9c3a4e-{n}111-4c7a-9e10-2d4b6f8a0c31"
    return (
        f'[[merchants]]\nname = "{name}"\nmid = "{mid}"\napp_key = "k"\napp_secret = "s"\n{ROUTES}{extra}\n'
    )


def settings(tmp_path: Path, text: str, **webhook: str) -> tuple[Settings, Merchants]:
    """The settings of a merchants file of ``text``, and its merchants as the settings check loads them."""
    (tmp_path / "merchants.toml").write_text(text)
    loaded = Settings.model_validate({"merchants_file": tmp_path / "merchants.toml", "webhook": webhook})
    return loaded, load_merchants(loaded)


def test_each_merchants_key_is_checked_and_the_receiver_reported_on(tmp_path: Path) -> None:
    text = "".join(
        merchant(name, n, f'subscriber_key = "{key(name)}"')
        for n, name in enumerate(("acme", "bolt", "cora"))
    )
    text = text.replace(
        f'subscriber_key = "{key("bolt")}"',
        f'subscriber_key = "{key("bolt")}"\nprevious_subscriber_key = "{key("old")}"',
    )
    results = {r.name: r for r in webhook_checks(*settings(tmp_path, text))}
    assert set(results) == {"webhook key (acme)", "webhook key (bolt)", "webhook key (cora)"}
    assert all(r.ok for r in results.values())
    assert results["webhook key (acme)"].detail == "key decodes: the receiver is on at /webhooks/flex/acme"
    assert results["webhook key (bolt)"].detail.startswith("current and previous keys decode")


def test_a_merchant_without_a_key_has_no_receiver_and_the_only_one_has_the_plain_path(tmp_path: Path) -> None:
    text = merchant("acme", 1, f'subscriber_key = "{key("acme")}"') + merchant("bolt", 2)
    results = {r.name: r for r in webhook_checks(*settings(tmp_path, text))}
    assert (
        results["webhook key (bolt)"].ok
        and "/webhooks/flex/bolt answers 404" in results["webhook key (bolt)"].detail
    )
    [only] = webhook_checks(*settings(tmp_path, merchant("acme", 1, f'subscriber_key = "{key("acme")}"')))
    assert only.detail == "key decodes: the receiver is on at /webhooks/flex/acme and /webhooks/flex"


@pytest.mark.parametrize("bad", ["dG9vIHNob3J0"])  # base64 of "too short"
def test_a_bad_global_key_is_still_reported_beside_the_merchants(tmp_path: Path, bad: str) -> None:
    text = merchant("acme", 1, f'subscriber_key = "{key("acme")}"')
    results = {r.name: r for r in webhook_checks(*settings(tmp_path, text, subscriber_key=bad))}
    assert (
        not results["webhook key"].ok
        and results["webhook key"].setting == "FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY"
    )
    assert results["webhook key (acme)"].ok


def test_without_a_merchants_file_one_result_as_before() -> None:
    [result] = webhook_checks(Settings.model_validate({}), None)
    assert (result.name, result.ok, result.detail) == (
        "webhook key",
        True,
        "not set: the webhook receiver is off",
    )
