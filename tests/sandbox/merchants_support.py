"""A three-merchant sandbox for the multi-merchant tests: the merchants file, tokens, batch files."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import orjson

from consumers.sftp.client import SftpClient
from core.settings import SftpSettings
from sandbox import RunningSandbox, SandboxConfig, load_merchants, start_sandbox
from streams.local.traffic import make_event

__all__ = [
    "ACME",
    "BOLT",
    "CORA",
    "MERCHANTS",
    "MerchantSpec",
    "batch_file",
    "merchant_event",
    "merchants_file",
    "merchants_sandbox",
    "sftp_client",
    "signed_in_as",
    "token_for",
]


def _key(seed: str) -> str:
    return base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode()


@dataclass(frozen=True)
class MerchantSpec:
    name: str
    mid: str
    app_key: str
    app_secret: str
    subscriber_key: str

    def key_path(self, directory: Path) -> Path:
        return directory / f"{self.name}_sftp"


ACME = MerchantSpec("acme", "0a9c3a4e-1111-4c7a-9e10-2d4b6f8a0c31", "acme-key", "acme-secret", _key("acme"))
BOLT = MerchantSpec("bolt", "1b8d2b5f-2222-4c7a-9e10-2d4b6f8a0c32", "bolt-key", "bolt-secret", _key("bolt"))
CORA = MerchantSpec("cora", "2c7e1c6a-3333-4c7a-9e10-2d4b6f8a0c33", "cora-key", "cora-secret", _key("cora"))
MERCHANTS = (ACME, BOLT, CORA)


def _entry(merchant: MerchantSpec, directory: Path, webhook_urls: dict[str, str]) -> str:
    """acme's secrets are inline; bolt's and cora's come from files (with whitespace around)."""
    key_path = merchant.key_path(directory)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(key_path)
    key.write_public_key(Path(f"{key_path}.pub"))
    lines = ["[[merchants]]", f'name = "{merchant.name}"', f'mid = "{merchant.mid}"']
    lines.append(f'app_key = "{merchant.app_key}"')
    if merchant is ACME:
        lines += [f'app_secret = "{merchant.app_secret}"', f'subscriber_key = "{merchant.subscriber_key}"']
    else:
        for field, value in (
            ("app_secret", merchant.app_secret),
            ("subscriber_key", merchant.subscriber_key),
        ):
            secret = directory / f"{merchant.name}_{field}"
            secret.write_text(f"  {value}\n")
            lines.append(f'{field}_file = "{secret}"')
    lines.append(f'sftp = {{ username = "{merchant.name}-sftp", key_path = "{key_path}" }}')
    if merchant.name in webhook_urls:
        lines.append(f'webhook_url = "{webhook_urls[merchant.name]}"')
    return "\n".join(lines)


def merchants_file(directory: Path, webhook_urls: dict[str, str] | None = None) -> Path:
    """Write the three merchants' file, their SFTP key pairs and secret files into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "merchants.toml"
    entries = [_entry(m, directory, webhook_urls or {}) for m in MERCHANTS]
    path.write_text("\n\n".join(entries) + "\n")
    return path


@asynccontextmanager
async def merchants_sandbox(
    directory: Path, webhook_urls: dict[str, str] | None = None, **config: Any
) -> AsyncIterator[RunningSandbox]:
    """A sandbox serving the three merchants, with its SFTP server, state in ``directory/state``."""
    merchants = load_merchants(merchants_file(directory, webhook_urls))
    settings = SandboxConfig(merchants=merchants, sftp_port=0, state_dir=directory / "state", **config)
    async with await start_sandbox(settings) as running:
        yield running


async def token_for(sandbox: RunningSandbox, merchant: MerchantSpec) -> str:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as http:
        credentials = {"AppKey": merchant.app_key, "AppSecret": merchant.app_secret}
        answer = await http.post("oauth2/token", json=credentials)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["accessToken"]
        return token


@asynccontextmanager
async def signed_in_as(sandbox: RunningSandbox, merchant: MerchantSpec) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the sandbox's base URL holding ``merchant``'s bearer token."""
    token = await token_for(sandbox, merchant)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10, headers=headers) as http:
        yield http


def sftp_client(sandbox: RunningSandbox, merchant: MerchantSpec, directory: Path) -> SftpClient:
    assert sandbox.sftp is not None
    server = sandbox.sftp.server
    return SftpClient(
        SftpSettings(
            port=server.port,
            username=f"{merchant.name}-sftp",
            key_path=merchant.key_path(directory),
            known_hosts=server.known_hosts,
        )
    )


def batch_file(mid: str, token: str, records: Sequence[dict[str, Any]]) -> bytes:
    head = {"mid": mid, "authorizationToken": token, "expiryDateUtc": "2030-01-01T00:00:00Z"}
    numbered = [{**r, "sequenceNumber": str(i)} for i, r in enumerate(records, start=1)]
    return orjson.dumps({"header": head, "records": numbered})


def merchant_event(kind: str, order_id: str, mid: str | None) -> dict[str, Any]:
    """A traffic event of ``kind`` (streams/local/traffic.py) for merchant ``mid``; with no ``mid``,
    an event that names no merchant."""
    event = make_event(kind, order_id, random.Random(order_id))
    assert isinstance(event, dict)
    event.pop("mid", None)
    return event if mid is None else {**event, "mid": mid}
