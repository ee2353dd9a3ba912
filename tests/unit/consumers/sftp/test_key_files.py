"""An SFTP private key as ssh-keygen writes it by default (OpenSSH format, encrypted with a
passphrase: asyncssh needs bcrypt for it), and one that cannot be decrypted: refused before
anything connects, naming the key's setting and the passphrase's, never the passphrase."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest
from pydantic import SecretStr

from consumers.sftp.accounts import SftpAccounts
from consumers.sftp.client import SftpClient, SftpConfigError
from core.merchants import Merchant, SftpAccount
from core.settings import RoutingSettings, SftpSettings

PASSPHRASE = "correct horse"
# the test keys are encrypted with one KDF round (fast); bcrypt warns at each use below 50
pytestmark = pytest.mark.filterwarnings(r"ignore:Warning. bcrypt.kdf.. called with only:UserWarning")


def known_hosts(tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text("")
    return path


def encrypted_key(tmp_path: Path) -> Path:
    path = tmp_path / "id_ed25519"
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.write_bytes(key.export_private_key("openssh", passphrase=PASSPHRASE, rounds=1))  # a fast KDF
    return path


def test_an_openssh_key_with_its_passphrase_is_read(tmp_path: Path) -> None:
    settings = SftpSettings(
        key_path=encrypted_key(tmp_path),
        key_passphrase=SecretStr(PASSPHRASE),
        known_hosts=known_hosts(tmp_path),
    )
    SftpClient(settings).check()


@pytest.mark.parametrize("passphrase", ["wrong horse", None])
def test_a_key_that_cannot_be_decrypted_names_both_settings_not_the_passphrase(
    tmp_path: Path, passphrase: str | None
) -> None:
    path = encrypted_key(tmp_path)
    given = SecretStr(passphrase) if passphrase else None
    with pytest.raises(SftpConfigError) as err:
        SftpClient(
            SftpSettings(key_path=path, key_passphrase=given, known_hosts=known_hosts(tmp_path))
        ).check()
    text = str(err.value)
    assert text.startswith(f"cannot read SFTP key FLEXBRIDGE_SFTP__KEY_PATH={path}: Key")
    assert "FLEXBRIDGE_SFTP__KEY_PASSPHRASE" in text and "horse" not in text


def test_a_merchants_key_that_cannot_be_decrypted_names_the_merchant(tmp_path: Path) -> None:
    merchant = Merchant(
        mid="mid-acme",
        name="acme",
        app_key=SecretStr("k"),
        app_secret=SecretStr("s"),
        routing=RoutingSettings(mit="sftp"),
        sftp=SftpAccount(username="acme", key_path=encrypted_key(tmp_path)),
    )
    settings = SftpSettings(known_hosts=known_hosts(tmp_path), key_passphrase=SecretStr("wrong horse"))
    with pytest.raises(SftpConfigError) as err:
        SftpAccounts(settings).check([merchant])
    assert 'merchant "acme": sftp.key_path=' in str(err.value) and "horse" not in str(err.value)
