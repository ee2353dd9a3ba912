"""The sandbox's SFTP server over real SSH on loopback: auth, allow-list, batch processing, outcomes."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import orjson
import pytest

from consumers.sftp.client import SftpClient, SftpError
from core.settings import SftpSettings
from sandbox import DEV_APP_KEY, DEV_APP_SECRET, DEV_MID, RunningSandbox, SandboxConfig, start_sandbox
from sandbox.samples import evaluate_body
from tests.support import wait_for


async def _start(tmp_path: Path, **config: Any) -> RunningSandbox:
    return await start_sandbox(SandboxConfig(sftp_port=0, state_dir=tmp_path / "state", **config))


@pytest.fixture
async def sftp_sandbox(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    running = await _start(tmp_path, sftp_settle_seconds=0.3)
    try:
        yield running
    finally:
        await running.close()


def _client(sandbox: RunningSandbox, **overrides: Any) -> SftpClient:
    assert sandbox.sftp is not None
    server = sandbox.sftp.server
    settings = {"port": server.port, "key_path": server.client_key, "known_hosts": server.known_hosts}
    return SftpClient(SftpSettings(**{**settings, **overrides}))


async def _token(sandbox: RunningSandbox) -> str:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as http:
        answer = await http.post("oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET})
        token: str = answer.json()["accessToken"]
        return token


def _file(token: str, records: list[dict[str, Any]], **header: Any) -> bytes:
    head = {"mid": DEV_MID, "authorizationToken": token, "expiryDateUtc": "2030-01-01T00:00:00Z", **header}
    numbered = [{**r, "sequenceNumber": str(i)} for i, r in enumerate(records, start=1)]
    return orjson.dumps({"header": head, "records": numbered})


async def _response(sandbox: RunningSandbox, name: str) -> list[dict[str, str]]:
    assert sandbox.sftp is not None
    path = sandbox.sftp.server.users["merchant"].outbound / name

    async def ready() -> bool:
        return path.exists()

    await wait_for(ready, 10, f"response file {name}")
    return list(csv.DictReader(io.StringIO(path.read_text())))


async def test_an_evaluate_file_becomes_orders_a_response_file_and_later_final_states(
    sftp_sandbox: RunningSandbox,
) -> None:
    token = await _token(sftp_sandbox)
    records = [
        evaluate_body(order_id="B-1", is_mit=True, card_last4="1111"),
        evaluate_body(order_id="B-2", is_mit=True, card_last4="0002"),
        {**evaluate_body(order_id="B-3", is_mit=True), "transaction": {"amount": 5}},
    ]
    client = _client(sftp_sandbox)
    try:
        await client.upload(
            "inbound", "evaluate_t_p0000_o000000000000.json", _file(token, records), ".x.part"
        )
        rows = await _response(sftp_sandbox, "evaluate_t_p0000_o000000000000.response.csv")
    finally:
        await client.close()
    assert [(r["sequenceNumber"], r["orderId"], r["status"]) for r in rows] == [
        ("1", "B-1", "SUBMITTED"),
        ("2", "B-2", "SUBMITTED"),
        ("3", "B-3", "REJECTED"),
    ]
    assert rows[0]["orderSessionKey"] and rows[0]["idempotencyKey"] == records[0]["idempotencyKey"]
    assert "Transaction.Id" in rows[2]["errorMessage"]
    book = sftp_sandbox.state.orders

    async def settled() -> dict[str, str] | None:
        final = {o.order_id: o.status for o in book.all()}
        return final if "SUBMITTED" not in final.values() else None

    final = await wait_for(settled, 10, "the batch orders to reach their final state")
    assert final == {"B-1": "APPROVED", "B-2": "EXPIRED"}
    assert sftp_sandbox.sftp is not None and sftp_sandbox.sftp.log[0]["accepted"] == 2


async def test_a_re_uploaded_file_creates_no_second_order(sftp_sandbox: RunningSandbox) -> None:
    token = await _token(sftp_sandbox)
    data = _file(token, [evaluate_body(order_id=f"R-{i}", is_mit=True) for i in range(3)])
    client = _client(sftp_sandbox)
    assert sftp_sandbox.sftp is not None
    service = sftp_sandbox.sftp
    try:
        for attempt in (1, 2):
            await client.upload("inbound", "evaluate_t_p0001_o000000000007.json", data, ".y.part")

            async def processed(n: int = attempt) -> bool:
                return len(service.log) == n

            await wait_for(processed, 10, f"upload {attempt} to be processed")
    finally:
        await client.close()
    rows = await _response(sftp_sandbox, "evaluate_t_p0001_o000000000007.response.csv")
    assert len(sftp_sandbox.state.orders.all()) == 3
    assert {r["orderSessionKey"] for r in rows} == {
        o.order_session_key for o in sftp_sandbox.state.orders.all()
    }


async def test_a_rename_whose_answer_is_lost_is_not_written_and_renamed_again(
    sftp_sandbox: RunningSandbox,
) -> None:
    data = _file(await _token(sftp_sandbox), [evaluate_body(order_id="L-1", is_mit=True)])
    name = "evaluate_t_p0003_o000000000000.json"
    async with httpx.AsyncClient(base_url=sftp_sandbox.base_url, timeout=10) as http:
        fault = await http.post("/_sandbox/sftp/faults", json={"dropAfterRename": ".json", "times": 1})
    assert fault.json() == {
        "dropAfterBytes": None,
        "dropAfterRename": ".json",
        "denyRename": None,
        "denyList": None,
        "times": 1,
        "dropped": 0,
        "denied": 0,
        "merchants": [],
    }
    assert sftp_sandbox.sftp is not None
    service, client = sftp_sandbox.sftp, _client(sftp_sandbox, backoff_base_seconds=0.01)
    try:
        await client.write_temp("inbound", ".l.part", data)
        renamed = await client.rename_temp("inbound", name, ".l.part")  # done, answer lost, retried

        async def processed() -> bool:
            return len(service.log) == 1

        await wait_for(processed, 10, "the file to be processed")
    finally:
        await client.close()
    assert renamed is False and client.connects == 2 and service.server.faults.dropped == 1
    assert [e["file"] for e in service.log] == [name]
    assert not (service.server.users["merchant"].inbound / ".l.part").exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda token, recs: _file("not-a-token", recs), "token"),
        (lambda token, recs: _file(token, recs, mid=""), "mid"),
        (lambda token, recs: _file(token, recs * 2001), "2000"),
        (lambda token, recs: b"{not json", "not valid JSON"),
    ],
)
async def test_file_level_errors_refuse_the_whole_file(
    sftp_sandbox: RunningSandbox, mutate: Any, message: str
) -> None:
    token = await _token(sftp_sandbox)
    data = mutate(token, [evaluate_body(order_id="F-1", is_mit=True)])
    client = _client(sftp_sandbox)
    try:
        await client.upload("inbound", "evaluate_t_p0002_o000000000000.json", data, ".z.part")
        rows = await _response(sftp_sandbox, "evaluate_t_p0002_o000000000000.response.csv")
    finally:
        await client.close()
    assert all(r["status"] == "REJECTED" and r["errorCode"] == "FileRejected" for r in rows)
    assert sftp_sandbox.sftp is not None and message in (sftp_sandbox.sftp.log[0]["error"] or "")
    assert sftp_sandbox.state.orders.all() == []


async def test_a_wrong_sequence_number_rejects_that_record(sftp_sandbox: RunningSandbox) -> None:
    token = await _token(sftp_sandbox)
    document = orjson.loads(_file(token, [evaluate_body(order_id=f"S-{i}", is_mit=True) for i in range(2)]))
    document["records"][1]["sequenceNumber"] = "7"
    client = _client(sftp_sandbox)
    try:
        await client.upload(
            "inbound", "evaluate_t_p0003_o000000000000.json", orjson.dumps(document), ".s.part"
        )
        rows = await _response(sftp_sandbox, "evaluate_t_p0003_o000000000000.response.csv")
    finally:
        await client.close()
    assert [r["status"] for r in rows] == ["SUBMITTED", "REJECTED"]
    assert "SequenceNumber" in rows[1]["errorMessage"]


async def test_an_unknown_host_key_is_refused(sftp_sandbox: RunningSandbox, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    assert sftp_sandbox.sftp is not None
    pinned = tmp_path / "other_known_hosts"
    pinned.write_text(f"[127.0.0.1]:{sftp_sandbox.sftp.server.port} {other}")
    client = _client(sftp_sandbox, known_hosts=pinned)
    with pytest.raises(SftpError, match="HostKeyNotVerifiable") as refused:
        await client.connect()
    assert not refused.value.retriable
    await client.close()


async def test_an_unauthorised_key_is_refused(sftp_sandbox: RunningSandbox, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(stranger)
    client = _client(sftp_sandbox, key_path=stranger)
    with pytest.raises(SftpError, match="PermissionDenied") as refused:
        await client.connect()
    assert not refused.value.retriable
    await client.close()


async def test_a_source_address_off_the_allow_list_is_refused(tmp_path: Path) -> None:
    running = await _start(tmp_path, sftp_allowed_ips=("192.0.2.1",))
    client = _client(running)
    try:
        with pytest.raises(SftpError, match=r"PermissionDenied: .*not allowed"):
            await client.connect()
    finally:
        await client.close()
        await running.close()


async def test_keys_and_known_hosts_persist_in_the_state_dir(tmp_path: Path) -> None:
    first = await _start(tmp_path)
    assert first.sftp is not None
    host_key = (first.sftp.server.state_dir / "ssh_host_ed25519_key").read_bytes()
    await first.close()
    second = await _start(tmp_path)
    try:
        assert second.sftp is not None
        state = second.sftp.server.state_dir
        assert (state / "ssh_host_ed25519_key").read_bytes() == host_key
        assert (state / "client_key").exists() and (state / "client_key.pub").exists()
        assert f":{second.sftp.server.port} ssh-ed25519 " in (state / "known_hosts").read_text()
        client = _client(second)
        await client.makedirs("outbound/done")
        assert await asyncio.wait_for(client.listdir("outbound"), 10) == []
        await client.close()
    finally:
        await second.close()
