"""A merchant's webhook keys rotated in their files without a restart: a delivery that fails the
signature check has the merchant's key files read again (at most once a second), and new keys are
taken only whole, valid and the merchant's own (real files; no Kafka, no HTTP)."""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from consumers.webhooks.key_files import KeyFiles
from consumers.webhooks.keys import WebhookKeys
from consumers.webhooks.signature import WebhookRejected, http_date, new_nonce, sign
from core.merchants import Merchant, Merchants
from core.settings import WebhookSettings

HOST = "bridge.example:8080"
BODY = b'{"Event":"order.completed","OrderId":"o-1"}'


def _key(seed: str) -> str:
    return base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode()


def _signed(key: str) -> dict[str, str]:
    return sign(BODY, key_b64=key, host=HOST, date=http_date(), nonce=new_nonce())


def _merchant(name: str, key: str, files: Path | None = None) -> Merchant:
    """``name``'s merchant; with ``files``, its current and previous keys read from files there."""
    fields: dict[str, object] = {"mid": f"mid-{name}", "name": name, "app_key": "k", "app_secret": "s"}
    fields["subscriber_key"] = SecretStr(key)
    if files is not None:
        (files / "current").write_text(key + "\n")
        (files / "previous").write_text(_key("acme-before") + "\n")
        fields |= {
            "subscriber_key_file": files / "current",
            "previous_subscriber_key_file": files / "previous",
        }
        fields["previous_subscriber_key"] = SecretStr(_key("acme-before"))
    return Merchant.model_validate(fields)


def _verdict(keys: WebhookKeys, name: str, key: str) -> str:
    receiving = keys.of(name)
    assert receiving is not None
    try:
        return receiving.verifier.verify("POST", HOST, _signed(key), BODY).key
    except WebhookRejected as exc:
        return exc.reason


def test_keys_rotated_in_their_files_are_taken_at_the_next_failed_signature(tmp_path: Path) -> None:
    acme = _merchant("acme", _key("acme-1"), tmp_path)
    keys = WebhookKeys.build(WebhookSettings(), Merchants([acme, _merchant("bolt", _key("bolt"))]))
    assert _verdict(keys, "acme", _key("acme-1")) == "current"

    (tmp_path / "current").write_text(_key("acme-2") + "\n")  # then the mounted files follow
    (tmp_path / "previous").write_text(_key("acme-1") + "\n")
    assert _verdict(keys, "acme", _key("acme-2")) == "current"
    assert _verdict(keys, "acme", _key("acme-1")) == "previous"  # in flight during the rotation
    assert _verdict(keys, "acme", _key("acme-before")) == "signature"  # out of the files: no longer
    assert _verdict(keys, "bolt", _key("acme-2")) == "signature"  # bolt's path: bolt's key alone


def test_another_merchants_key_or_a_broken_file_is_not_taken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    acme = _merchant("acme", _key("acme-1"), tmp_path)
    keys = WebhookKeys.build(WebhookSettings(), Merchants([acme, _merchant("bolt", _key("bolt"))]))
    (tmp_path / "current").write_text(_key("bolt") + "\n")  # bolt's key pasted into acme's file
    with caplog.at_level(logging.ERROR, logger="consumers.webhooks.key_files"):
        assert _verdict(keys, "acme", _key("bolt")) == "signature"
    said = [r.getMessage() for r in caplog.records]  # as logged, whatever the handler's format
    assert any('a key in the files is merchant "bolt"\'s' in line for line in said), said
    assert _verdict(keys, "acme", _key("acme-1")) == "current"  # the keys in use stayed


def test_the_files_are_read_at_most_once_a_second(tmp_path: Path) -> None:
    now = [100.0]
    acme = _merchant("acme", _key("acme-1"), tmp_path)
    files = KeyFiles(acme, lambda raw: None, clock=lambda: now[0])
    in_use = (
        ("current", base64.b64decode(_key("acme-1"))),
        ("previous", base64.b64decode(_key("acme-before"))),
    )
    assert files.keys_again(in_use) is None  # read, and the same keys as in use
    (tmp_path / "current").write_text("not base64 at all\n")
    now[0] += 0.5
    assert files.keys_again(in_use) is None  # not read: a flood of forged deliveries costs one read a second
    (tmp_path / "current").write_text(_key("acme-2") + "\n")
    now[0] += 0.5
    got = files.keys_again(in_use)
    assert got is not None and got[0] == ("current", base64.b64decode(_key("acme-2")))
    now[0] += 1.0
    assert files.keys_again(got) is None  # unchanged since: nothing new
