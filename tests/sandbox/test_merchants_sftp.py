"""The sandbox's SFTP server in multi-merchant mode over real SSH: one chrooted account per
merchant, and batch files refused when their header's ``mid`` or token is another merchant's."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
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


async def _upload(
    sandbox: RunningSandbox, merchant: MerchantSpec, directory: Path, name: str, data: bytes
) -> None:
    client = sftp_client(sandbox, merchant, directory)
    try:
        await client.upload("inbound", name, data, f".{name}.part")
    finally:
        await client.close()


async def _response(sandbox: RunningSandbox, merchant: MerchantSpec, name: str) -> list[dict[str, str]]:
    assert sandbox.sftp is not None
    path = sandbox.sftp.server.users[f"{merchant.name}-sftp"].outbound / name

    async def ready() -> bool:
        return path.exists()

    await wait_for(ready, 10, f"response file {name}")
    return list(csv.DictReader(io.StringIO(path.read_text())))


async def test_each_merchant_has_its_own_account_and_folders(many: RunningSandbox, tmp_path: Path) -> None:
    assert many.sftp is not None
    users = many.sftp.server.users
    assert {name: user.merchant for name, user in users.items()} == {
        "acme-sftp": "acme",
        "bolt-sftp": "bolt",
        "cora-sftp": "cora",
    }
    assert len({user.root for user in users.values()}) == 3
    client = sftp_client(many, BOLT, tmp_path)
    try:
        await client.upload("outbound", "mine.txt", b"bolt", ".mine.part")
        assert [f.name for f in await client.listdir("outbound")] == ["mine.txt"]
    finally:
        await client.close()
    assert (users["bolt-sftp"].outbound / "mine.txt").read_bytes() == b"bolt"
    assert list(users["acme-sftp"].outbound.iterdir()) == []


async def _probe(sandbox: RunningSandbox, directory: Path) -> dict[str, Any]:
    """What bolt's account sees at its root, and its attempts on acme's folders (raw SFTP)."""
    assert sandbox.sftp is not None
    server = sandbox.sftp.server
    async with asyncssh.connect(
        "127.0.0.1",
        server.port,
        username="bolt-sftp",
        client_keys=[str(BOLT.key_path(directory))],
        known_hosts=str(server.known_hosts),
    ) as connection:
        sftp = await connection.start_sftp_client()
        seen: dict[str, Any] = {"root": sorted(await sftp.listdir("/"))}
        for attempt, path in (("list", "../acme-sftp/inbound"), ("list-abs", str(server.state_dir))):
            try:
                seen[attempt] = await sftp.listdir(path)
            except asyncssh.SFTPError as exc:
                seen[attempt] = type(exc).__name__
        try:
            async with sftp.open("../acme-sftp/inbound/evaluate_x.json", "wb") as handle:
                await handle.write(b"{}")
            seen["write"] = "written"
        except asyncssh.SFTPError as exc:
            seen["write"] = type(exc).__name__
        return seen


async def test_an_account_cannot_list_or_write_another_merchants_folders(
    many: RunningSandbox, tmp_path: Path
) -> None:
    seen = await _probe(many, tmp_path)
    assert seen == {
        "root": [".", "..", "inbound", "outbound"],
        "list": "SFTPNoSuchFile",
        "list-abs": "SFTPNoSuchFile",
        "write": "SFTPNoSuchFile",
    }
    assert many.sftp is not None
    assert list(many.sftp.server.users["acme-sftp"].inbound.iterdir()) == []


async def test_a_merchants_own_file_becomes_its_orders(many: RunningSandbox, tmp_path: Path) -> None:
    token = await token_for(many, ACME)
    records = [evaluate_body(order_id="A-1", is_mit=True), evaluate_body(order_id="A-2", is_mit=True)]
    for record in records:
        del record["mid"]  # the header's merchant fills it in
    await _upload(many, ACME, tmp_path, "evaluate_acme_p0000_o0.json", batch_file(ACME.mid, token, records))
    rows = await _response(many, ACME, "evaluate_acme_p0000_o0.response.csv")
    assert [r["status"] for r in rows] == ["SUBMITTED", "SUBMITTED"]
    assert {o.order_id: o.mid for o in many.state.orders.all()} == {"A-1": ACME.mid, "A-2": ACME.mid}
    assert many.sftp is not None
    entry = many.sftp.log[0]
    assert (entry["user"], entry["merchant"], entry["accepted"]) == ("acme-sftp", "acme", 2)


@pytest.mark.parametrize(
    ("header_mid", "token_of", "message"),
    [
        (BOLT.mid, ACME, "header.mid belongs to another merchant"),
        (ACME.mid, BOLT, "header authorization token belongs to another merchant"),
    ],
)
async def test_a_file_with_another_merchants_header_is_refused(
    many: RunningSandbox, tmp_path: Path, header_mid: str, token_of: MerchantSpec, message: str
) -> None:
    token = await token_for(many, token_of)
    records = [evaluate_body(order_id="F-1", is_mit=True, mid=header_mid)]
    await _upload(many, ACME, tmp_path, "evaluate_acme_p0001_o0.json", batch_file(header_mid, token, records))
    rows = await _response(many, ACME, "evaluate_acme_p0001_o0.response.csv")
    assert [(r["status"], r["errorCode"]) for r in rows] == [("REJECTED", "FileRejected")]
    assert message in rows[0]["errorMessage"]
    assert many.state.orders.all() == []


async def test_a_record_with_another_merchants_mid_is_refused(many: RunningSandbox, tmp_path: Path) -> None:
    token = await token_for(many, ACME)
    records = [
        evaluate_body(order_id="R-1", is_mit=True, mid=ACME.mid),
        evaluate_body(order_id="R-2", mid=BOLT.mid),
    ]
    await _upload(many, ACME, tmp_path, "evaluate_acme_p0002_o0.json", batch_file(ACME.mid, token, records))
    rows = await _response(many, ACME, "evaluate_acme_p0002_o0.response.csv")
    assert [(r["status"], r["errorCode"]) for r in rows] == [("SUBMITTED", ""), ("REJECTED", "Forbidden")]
    assert [o.order_id for o in many.state.orders.all()] == ["R-1"]
