"""Merchants for the local stack (demo, benchmarks, tests): the merchants file both the sandbox
(``flexbridge sandbox --merchants PATH``) and the workers (``FLEXBRIDGE_MERCHANTS_FILE``) read.

:func:`write_merchants_file` writes the TOML file of DESIGN.md §2.9 into a directory, with every
secret in a file of its own (``app_secret_file``, ``subscriber_key_file``) and, for a merchant with
an SFTP account, an ed25519 key pair generated beside it (the sandbox authorises ``key_path.pub``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import asyncssh

__all__ = [
    "DEMO_MERCHANTS",
    "FILE_NAME",
    "LocalMerchant",
    "local_merchant",
    "sftp_root",
    "write_merchants_file",
]

FILE_NAME: Final = "merchants.toml"


@dataclass(frozen=True)
class LocalMerchant:
    """One merchant of a local merchants file; ``routing`` as in the file (``{"mit": "api"}``)."""

    name: str
    mid: str
    routing: dict[str, str] = field(default_factory=dict)
    sftp: bool = True  # an SFTP account (username ``<name>-sftp``, a key pair generated for it)

    @property
    def app_key(self) -> str:
        return f"{self.name}-key"

    @property
    def sftp_username(self) -> str:
        return f"{self.name}-sftp"

    def routes(self, way: str) -> list[str]:
        """The flows this merchant routes ``way`` (``"sftp"`` or ``"api"``), defaults included."""
        merged = {"mit": "sftp", "transmit": "api", **self.routing}
        return [flow for flow, w in merged.items() if w == way]


def local_merchant(index: int, **fields: object) -> LocalMerchant:
    """Merchant number ``index``: name ``m0001``, a MID derived from the index (stable across runs)."""
    digest = hashlib.sha256(f"flexbridge-local-merchant-{index}".encode()).hexdigest()
    mid = f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"
    return LocalMerchant(f"m{index:04d}", mid, **fields)  # type: ignore[arg-type]


# The demo's three merchants, all on the same topics: MIT by SFTP; everything by the API;
# approvals as transmit_ batch files.
DEMO_MERCHANTS: Final = (
    LocalMerchant("acme", "0a9c3a4e-1111-4c7a-9e10-2d4b6f8a0c31", {"mit": "sftp", "transmit": "api"}),
    LocalMerchant("bolt", "1b8d2b5f-2222-4c7a-9e10-2d4b6f8a0c32", {"mit": "api", "transmit": "api"}, False),
    LocalMerchant("cora", "2c7e1c6a-3333-4c7a-9e10-2d4b6f8a0c33", {"mit": "api", "transmit": "sftp"}),
)


def sftp_root(state_dir: Path, merchant: LocalMerchant) -> Path:
    """The merchant's chrooted folder on the sandbox's SFTP server (``inbound/``, ``outbound/``)."""
    return state_dir / "sftp" / merchant.sftp_username


def _secret(directory: Path, merchant: LocalMerchant, field_name: str, make: Callable[[], str]) -> str:
    """A secret in a file of its own, made once: a file written again keeps its merchants' secrets
    (a running sandbox holds them)."""
    path = directory / f"{merchant.name}.{field_name}"
    if not path.exists():  # readable by its owner alone from the start, not after a chmod
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(make() + "\n")  # a mounted secret often ends with a newline: it is stripped
    return f'{field_name}_file = "{path}"'


def _subscriber_key() -> str:
    """A webhook subscriber key as the Flex portal gives one: base64 of 64 bytes."""
    return base64.b64encode(secrets.token_bytes(64)).decode()


def _sftp_key(directory: Path, merchant: LocalMerchant) -> Path:
    key_path = directory / f"{merchant.name}.sftp_key"
    if not key_path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(key_path)
        key.write_public_key(Path(f"{key_path}.pub"))
    return key_path


def _entry(directory: Path, merchant: LocalMerchant) -> list[str]:
    lines = ["[[merchants]]", f'name = "{merchant.name}"', f'mid = "{merchant.mid}"']
    lines.append(f'app_key = "{merchant.app_key}"')
    lines.append(_secret(directory, merchant, "app_secret", lambda: secrets.token_urlsafe(24)))
    lines.append(_secret(directory, merchant, "subscriber_key", _subscriber_key))
    if merchant.routing:
        lines.append("routing = { " + ", ".join(f'{k} = "{v}"' for k, v in merchant.routing.items()) + " }")
    if merchant.sftp:
        key_path = _sftp_key(directory, merchant)
        lines.append(f'sftp = {{ username = "{merchant.sftp_username}", key_path = "{key_path}" }}')
    return lines


def write_merchants_file(
    directory: Path, merchants: Sequence[LocalMerchant], file_name: str = FILE_NAME
) -> Path:
    """Write ``directory/merchants.toml`` (or ``file_name``) for ``merchants``: their secrets in files
    beside it and an SFTP key pair per account, each made the first time and kept after (files of
    one directory share them). Returns the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name
    text = "\n\n".join("\n".join(_entry(directory, m)) for m in merchants) + "\n"
    scratch = path.with_name(f".{file_name}.part")
    scratch.write_text(text)
    os.replace(scratch, path)  # a worker starting meanwhile reads the old file or the new one, whole
    return path
