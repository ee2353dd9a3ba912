"""The sandbox's reading of the merchants file: secrets from files, the checks that refuse a file
(naming the merchant and the field), and ``flexbridge sandbox --merchants PATH``."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from sandbox import MerchantsFileError, load_merchants
from sandbox.cli import config_from_args
from sandbox.server import main
from tests.sandbox.merchants_support import ACME, BOLT, MERCHANTS, merchants_file
from tests.sandbox.test_cli import listening_url, running_cli


def test_the_file_gives_each_merchant_and_reads_secret_files_stripped(tmp_path: Path) -> None:
    merchants = load_merchants(merchants_file(tmp_path))
    assert [(m.name, m.mid, m.app_key) for m in merchants] == [(s.name, s.mid, s.app_key) for s in MERCHANTS]
    bolt = merchants[1]
    assert bolt.app_secret.get_secret_value() == BOLT.app_secret  # read from "  bolt-secret\n"
    assert bolt.subscriber_key is not None and bolt.subscriber_key.get_secret_value() == BOLT.subscriber_key
    assert (bolt.sftp_username, bolt.sftp_public_key) == ("bolt-sftp", tmp_path / "bolt_sftp.pub")


def test_webhook_urls_default_to_the_base_url_and_the_name(tmp_path: Path) -> None:
    path = merchants_file(tmp_path, {"bolt": "https://bolt.example/flex"})
    config = config_from_args(["--merchants", str(path), "--webhook-url", "http://127.0.0.1:9/hooks"], {})
    urls = {m.name: m.webhook_url for m in config.effective_merchants()}
    assert urls == {
        "acme": "http://127.0.0.1:9/hooks/acme",
        "bolt": "https://bolt.example/flex",
        "cora": "http://127.0.0.1:9/hooks/cora",
    }
    from_env = config_from_args([], {"FLEXBRIDGE_SANDBOX_MERCHANTS": str(path)})
    assert [m.name for m in from_env.merchants] == ["acme", "bolt", "cora"]


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    path = merchants_file(tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (f'mid = "{BOLT.mid}"', f'mid = "{ACME.mid.upper()}"', "merchant 'bolt': mid: the same as 'acme'"),
        ('name = "cora"', 'name = "acme"', "merchant 'acme': name: the same as 'acme'"),
        ('name = "cora"', 'name = "Cora"', "merchant 'Cora': name: only lower-case"),
        (f'app_secret = "{ACME.app_secret}"', "", "merchant 'acme': app_secret: required"),
        ("bolt_app_secret", "missing_secret", "merchant 'bolt': app_secret_file: cannot read"),
        ("cora_sftp", "nowhere_sftp", "merchant 'cora': sftp.key_path: cannot read the public key"),
        (f'subscriber_key = "{ACME.subscriber_key}"', 'subscriber_key = "c2hvcnQ="', "64 bytes"),
        ('username = "bolt-sftp"', 'username = "acme-sftp"', "merchant 'bolt': sftp.username: the same"),
    ],
)
def test_a_file_that_cannot_be_used_is_refused_naming_merchant_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(MerchantsFileError, match="merchants file .*" + message.replace("(", r"\(")):
        load_merchants(path)


def test_a_bad_merchants_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _broken(tmp_path, 'app_key = "acme-key"', "")
    assert main(["--merchants", str(path)]) == 2
    assert "merchant 'acme': app_key: required" in capsys.readouterr().err
    assert main(["--merchants", str(tmp_path / "absent.toml")]) == 2
    assert "cannot read it" in capsys.readouterr().err


@pytest.mark.integration
async def test_the_cli_serves_the_merchants_of_the_file(tmp_path: Path) -> None:
    path = merchants_file(tmp_path)
    async with running_cli("--merchants", str(path)) as (process, lines):
        output = "\n".join(lines)
        assert "merchants (3):" in output and f"bolt: mid {BOLT.mid}, app key bolt-key" in output
        assert not any(m.app_secret in output or m.subscriber_key in output for m in MERCHANTS)
        async with httpx.AsyncClient(base_url=listening_url(lines), timeout=10) as http:
            bolt = await http.post(
                "oauth2/token", json={"AppKey": BOLT.app_key, "AppSecret": BOLT.app_secret}
            )
            dev = await http.post("oauth2/token", json={"AppKey": "flexbridge-dev-key", "AppSecret": "x"})
        assert (bolt.status_code, dev.status_code) == (200, 400)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
