"""The local stack's merchants file (streams/local/merchants.py): flexbridge and the sandbox both
read what it writes, and writing it again keeps the secrets a running sandbox holds."""

from __future__ import annotations

from pathlib import Path

from core.merchants import load_merchants
from core.routing import RoutingSettings
from core.settings import Settings
from sandbox import load_merchants as sandbox_merchants
from streams.local.merchants import DEMO_MERCHANTS, LocalMerchant, local_merchant, write_merchants_file


def test_flexbridge_and_the_sandbox_read_the_demo_merchants_file(tmp_path: Path) -> None:
    path = write_merchants_file(tmp_path, DEMO_MERCHANTS)
    ours = load_merchants(Settings(merchants_file=path))
    theirs = sandbox_merchants(path)
    assert [m.name for m in ours] == [m.name for m in theirs] == ["acme", "bolt", "cora"]
    for merchant, spec in zip(ours, DEMO_MERCHANTS, strict=True):
        assert merchant.mid == spec.mid and merchant.routing == RoutingSettings(**spec.routing)
        assert (merchant.sftp is not None) == spec.sftp
    assert [m.sftp_username for m in theirs] == ["acme-sftp", None, "cora-sftp"]
    text = path.read_text()
    assert "app_secret_file" in text and "subscriber_key_file" in text and "app_secret =" not in text


def test_writing_the_file_again_with_one_more_merchant_keeps_every_secret(tmp_path: Path) -> None:
    first = load_merchants(Settings(merchants_file=write_merchants_file(tmp_path, DEMO_MERCHANTS)))
    added = LocalMerchant("dana", local_merchant(4).mid, {"mit": "api"}, sftp=False)
    again = load_merchants(Settings(merchants_file=write_merchants_file(tmp_path, (*DEMO_MERCHANTS, added))))
    assert [m.name for m in again] == ["acme", "bolt", "cora", "dana"]
    for before in first:
        after = again.by_name(before.name)
        assert after is not None
        assert after.app_secret.get_secret_value() == before.app_secret.get_secret_value()
        assert after.subscriber_key == before.subscriber_key


def test_numbered_merchants_have_distinct_stable_mids() -> None:
    mids = [local_merchant(i).mid for i in range(500)]
    assert len(set(mids)) == 500
    assert local_merchant(7).mid == local_merchant(7).mid
    assert local_merchant(7).name == "m0007"
    assert local_merchant(3, routing={"transmit": "sftp"}).routes("sftp") == ["mit", "transmit"]
