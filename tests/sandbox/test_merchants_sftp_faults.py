"""SFTP faults aimed at some merchants (``"merchants": [...]``, as for ``POST /_sandbox/faults``):
a dropped upload or a withheld response file hits only the accounts of the merchants named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest

from sandbox import RunningSandbox
from sandbox.samples import evaluate_body
from tests.sandbox.merchants_support import (
    ACME,
    BOLT,
    MerchantSpec,
    batch_file,
    merchants_sandbox,
    sftp_client,
    token_for,
)
from tests.support import wait_for


@pytest.fixture
async def many(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    async with merchants_sandbox(tmp_path, sftp_settle_seconds=30) as running:
        yield running


async def _admin(sandbox: RunningSandbox, method: str, path: str, body: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as http:
        return await http.request(method, path, json=body)


async def _write(sandbox: RunningSandbox, merchant: MerchantSpec, directory: Path) -> str:
    """One write of 4 kB into the merchant's inbound folder, no retry: "written" or the error's class."""
    assert sandbox.sftp is not None
    server = sandbox.sftp.server
    try:
        async with asyncssh.connect(
            "127.0.0.1",
            server.port,
            username=f"{merchant.name}-sftp",
            client_keys=[str(merchant.key_path(directory))],
            known_hosts=str(server.known_hosts),
        ) as connection:
            sftp = await connection.start_sftp_client()
            async with sftp.open("inbound/probe.bin", "wb") as handle:
                await handle.write(b"x" * 4096)
    except (asyncssh.Error, OSError) as exc:
        return type(exc).__name__
    return "written"


@pytest.mark.parametrize("target", [ACME.name, ACME.mid])
async def test_a_drop_aimed_at_one_merchant_leaves_the_others_uploads_alone(
    many: RunningSandbox, tmp_path: Path, target: str
) -> None:
    aimed = await _admin(many, "POST", "/_sandbox/sftp/faults", {"dropAfterBytes": 0, "merchants": [target]})
    assert aimed.status_code == 200, aimed.text
    assert aimed.json() == {
        "dropAfterBytes": 0,
        "dropAfterRename": None,
        "denyRename": None,
        "denyList": None,
        "times": 1,
        "dropped": 0,
        "denied": 0,
        "merchants": [target],
    }
    assert await _write(many, BOLT, tmp_path) == "written"
    assert (await _admin(many, "GET", "/_sandbox/sftp/faults")).json()["dropped"] == 0
    assert await _write(many, ACME, tmp_path) != "written"
    assert (await _admin(many, "GET", "/_sandbox/sftp/faults")).json()["dropped"] == 1
    assert many.sftp is not None
    assert (many.sftp.server.users["bolt-sftp"].inbound / "probe.bin").read_bytes() == b"x" * 4096


async def _upload_batch(sandbox: RunningSandbox, merchant: MerchantSpec, directory: Path, name: str) -> None:
    token = await token_for(sandbox, merchant)
    records = [evaluate_body(order_id=f"{merchant.name}-1", is_mit=True, mid=merchant.mid)]
    client = sftp_client(sandbox, merchant, directory)
    try:
        await client.upload("inbound", name, batch_file(merchant.mid, token, records), f".{name}.part")
    finally:
        await client.close()


async def _processed(sandbox: RunningSandbox, name: str) -> dict[str, Any]:
    assert sandbox.sftp is not None
    log = sandbox.sftp.log

    async def entry() -> dict[str, Any] | None:
        return next((e for e in log if e["file"] == name), None)

    return await wait_for(entry, 10, f"batch file {name} processed")


async def test_a_withheld_response_aimed_at_one_merchant_leaves_the_others_results_alone(
    many: RunningSandbox, tmp_path: Path
) -> None:
    body = {"withhold": 1, "merchants": [BOLT.mid]}
    aimed = await _admin(many, "POST", "/_sandbox/sftp/responses", body)
    assert aimed.status_code == 200, aimed.text
    assert aimed.json() == {"withhold": 1, "withheld": [], "merchants": [BOLT.mid]}
    acme_file, bolt_file = "evaluate_acme_p0000_o0.json", "evaluate_bolt_p0000_o0.json"
    await _upload_batch(many, ACME, tmp_path, acme_file)
    assert (await _processed(many, acme_file))["response"] is not None
    await _upload_batch(many, BOLT, tmp_path, bolt_file)
    assert (await _processed(many, bolt_file))["response"] is None
    state = (await _admin(many, "GET", "/_sandbox/sftp/responses")).json()
    assert state == {"withhold": 0, "withheld": [bolt_file], "merchants": [BOLT.mid]}
    assert many.sftp is not None
    assert list(many.sftp.server.users["bolt-sftp"].outbound.iterdir()) == []


@pytest.mark.parametrize(
    ("path", "body"),
    [("/_sandbox/sftp/faults", {"dropAfterBytes": 0}), ("/_sandbox/sftp/responses", {"withhold": 1})],
)
async def test_an_sftp_fault_aimed_at_no_known_merchant_is_refused(
    many: RunningSandbox, path: str, body: dict[str, int]
) -> None:
    refused = await _admin(many, "POST", path, {**body, "merchants": ["acme", "nobody"]})
    assert refused.status_code == 400 and "nobody" in refused.json()["error"]
    assert (await _admin(many, "GET", path)).json()["merchants"] == []
