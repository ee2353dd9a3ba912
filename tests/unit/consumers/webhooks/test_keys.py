"""Unit tests of the webhook keys per merchant: each path verifies with its merchant's keys (and its
previous key during a rotation), never another's; dedupe keys are scoped per merchant."""

from __future__ import annotations

import base64
import hashlib

import pytest
from pydantic import SecretStr

from consumers.webhooks.dedupe import SeenKeys
from consumers.webhooks.keys import WebhookKeys, scoped_key
from consumers.webhooks.signature import WebhookRejected, http_date, new_nonce, sign
from core.merchants import SINGLE_MERCHANT_NAME, Merchant, Merchants
from core.settings import WebhookSettings

HOST = "bridge.example:8080"


def _key(seed: str) -> str:
    return base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode()


def merchant(name: str, key: str | None, previous: str | None = None) -> Merchant:
    return Merchant(
        mid=f"mid-{name}",
        name=name,
        app_key=SecretStr("k"),
        app_secret=SecretStr("s"),
        subscriber_key=SecretStr(key) if key else None,
        previous_subscriber_key=SecretStr(previous) if previous else None,
    )


ACME, BOLT = merchant("acme", _key("acme"), previous=_key("acme-old")), merchant("bolt", _key("bolt"))
MANY = Merchants([ACME, BOLT, merchant("cora", None)])
BODY = b'{"Event":"order.completed","OrderId":"o-1"}'


def signed(key: str) -> dict[str, str]:
    return sign(BODY, key_b64=key, host=HOST, date=http_date(), nonce=new_nonce())


def test_each_merchants_path_verifies_with_its_own_key_and_its_previous_one() -> None:
    keys = WebhookKeys.build(WebhookSettings(), MANY)
    acme = keys.of("acme")
    assert acme is not None and acme.scope == "acme" and acme.merchant == "acme"
    assert acme.verifier.verify("POST", HOST, signed(_key("acme")), BODY).key == "current"
    assert acme.verifier.verify("POST", HOST, signed(_key("acme-old")), BODY).key == "previous"
    with pytest.raises(WebhookRejected) as refused:
        acme.verifier.verify("POST", HOST, signed(_key("bolt")), BODY)  # bolt's key on acme's path
    assert refused.value.reason == "signature"


def test_an_unknown_name_or_a_merchant_without_a_key_has_no_receiver() -> None:
    keys = WebhookKeys.build(WebhookSettings(), MANY)
    assert keys.of("nobody") is None and keys.of("cora") is None
    assert keys.of(None) is None  # the plain path: three merchants, no FLEXBRIDGE_WEBHOOK__ key
    assert keys


def test_with_several_merchants_the_plain_path_has_no_receiver_even_with_a_global_key() -> None:
    hook = WebhookSettings(subscriber_key=SecretStr(_key("one")))
    keys = WebhookKeys.build(hook, MANY)  # a delivery there would belong to no merchant
    assert keys.of(None) is None and keys.of("acme") is not None


def test_the_plain_path_serves_the_single_merchant_with_its_dedupe_keys_unchanged() -> None:
    hook = WebhookSettings(subscriber_key=SecretStr(_key("one")))
    single = merchant(SINGLE_MERCHANT_NAME, _key("one"))
    keys = WebhookKeys.build(hook, Merchants([single]))
    plain, named = keys.of(None), keys.of(SINGLE_MERCHANT_NAME)
    assert plain is not None and named is not None and plain.scope is None and named.scope is None
    assert plain.verifier is named.verifier  # one nonce cache: a replay on the other path is refused
    only = WebhookKeys.build(WebhookSettings(), Merchants([ACME]))
    assert only.of(None) is only.of("acme")  # one merchant in the file: the plain path is its
    assert not WebhookKeys.build(WebhookSettings(), None)


def test_deduplication_holds_per_merchant() -> None:
    seen = SeenKeys(window_seconds=60, max_entries=10)
    seen.add(scoped_key("acme", "order.completed:o-1"), 100.0)
    assert seen.seen(scoped_key("acme", "order.completed:o-1"), 110.0)
    assert not seen.seen(scoped_key("bolt", "order.completed:o-1"), 110.0)  # same order id, other merchant
    assert not seen.seen(scoped_key(None, "order.completed:o-1"), 110.0)
    assert scoped_key(None, "order.completed:o-1") == "order.completed:o-1"
