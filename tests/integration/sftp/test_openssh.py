"""The SFTP client and the result poller against OpenSSH's own sshd and sftp-server."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest
from aiokafka import AIOKafkaProducer

from consumers.sftp.client import SftpClient, SftpConfigError, SftpError
from consumers.sftp.registry import BatchRegistry, SentRecord
from core.settings import Settings, SftpSettings
from schemas.batch import RESPONSE_COLUMNS, file_name, response_name
from streams.local.broker import EmbeddedBroker
from streams.runtime.batch.poller import ResultPoller
from streams.runtime.deps import Deps
from streams.runtime.metrics import Metrics
from tests.sshd import OpenSsh, openssh
from tests.support import read_all, unique, values

__all__ = ["openssh"]  # the fixture, re-exported for pytest

pytestmark = pytest.mark.integration


def _sftp(server: OpenSsh, root: Path, **extra: object) -> SftpSettings:
    return SftpSettings.model_validate(
        {
            "port": server.port,
            "username": server.user,
            "key_path": server.client_key,
            "known_hosts": server.known_hosts,
            "inbound_dir": str(root / "inbound"),
            "outbound_dir": str(root / "outbound"),
            **extra,
        }
    )


async def test_upload_is_atomic_and_replaces_an_earlier_upload(openssh: OpenSsh, tmp_path: Path) -> None:
    (tmp_path / "inbound").mkdir()
    client = SftpClient(_sftp(openssh, tmp_path))
    try:
        inbound = str(tmp_path / "inbound")
        await client.upload(inbound, "evaluate_x.json", b"first", ".evaluate_x.json.part")
        await client.upload(inbound, "evaluate_x.json", b"second", ".evaluate_x.json.part")
        assert [f.name for f in await client.listdir(inbound)] == ["evaluate_x.json"]  # no temp file left
        assert (tmp_path / "inbound" / "evaluate_x.json").read_bytes() == b"second"
        assert await client.rename(f"{inbound}/evaluate_x.json", f"{inbound}/claimed.json")
        assert not await client.rename(f"{inbound}/evaluate_x.json", f"{inbound}/again.json")  # already gone
        assert await client.read(f"{inbound}/claimed.json", 6) == b"second"
        assert await client.read(f"{inbound}/claimed.json", 3) == b"seco"  # a byte more: too long
        assert client.connects == 1
    finally:
        await client.close()


async def test_a_host_key_not_in_known_hosts_is_refused(openssh: OpenSsh, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    other.write_text(f"[127.0.0.1]:{openssh.port} {key}")
    client = SftpClient(_sftp(openssh, tmp_path, known_hosts=other))
    with pytest.raises(SftpError, match="HostKeyNotVerifiable") as refused:
        await client.connect()
    assert not refused.value.retriable
    missing = SftpClient(_sftp(openssh, tmp_path, known_hosts=tmp_path / "absent"))
    with pytest.raises(SftpConfigError, match="FLEXBRIDGE_SFTP__KNOWN_HOSTS"):
        missing.check()
    with pytest.raises(SftpConfigError, match="FLEXBRIDGE_SFTP__KEY_PATH"):
        SftpClient(_sftp(openssh, tmp_path, key_path=tmp_path / "no-key")).check()


async def test_a_refused_login_is_named_as_the_connect_not_as_the_operation(
    openssh: OpenSsh, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger_key"
    stranger.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    client = SftpClient(_sftp(openssh, tmp_path, key_path=stranger))
    try:
        with pytest.raises(SftpError) as refused:
            await client.listdir(str(tmp_path))
    finally:
        await client.close()
    assert str(refused.value).startswith(f"SFTP connect (for the listing of {tmp_path}): PermissionDenied")
    assert not refused.value.retriable


def _a_good_and_a_garbled_response(outbound: Path) -> tuple[str, str]:
    """Two response files in ``outbound``: the batch file name of the good one, the garbled one's name."""
    good = file_name("evaluate", "payments.declined", 0, 5)
    header = ",".join(RESPONSE_COLUMNS)
    (outbound / response_name(good)).write_text(
        f"{header}\n1,O-1,k1,SUBMITTED,osk-1,,\n2,O-2,k2,REJECTED,,E1,bad\n"
    )
    bad = response_name(file_name("evaluate", "payments.declined", 0, 9))
    (outbound / bad).write_text("garbage\n")
    return good, bad


async def test_the_poller_claims_parses_and_files_responses_over_openssh(
    openssh: OpenSsh, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    outbound = tmp_path / "outbound"
    outbound.mkdir()
    tag = unique("o")
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": broker.bootstrap},
            "topics": {"status": f"{tag}.status"},
            "batch": {"min_age_seconds": 0},
        }
    ).model_copy(update={"sftp": _sftp(openssh, tmp_path)})
    good, bad = _a_good_and_a_garbled_response(outbound)
    registry = BatchRegistry()
    registry.add(good, [SentRecord(1, "O-1", "evt-1", "k1"), SentRecord(2, "O-2", "evt-2", "k2")])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    client = SftpClient(settings.sftp)
    try:
        deps = Deps.build(settings, producer, Metrics())
        poller = ResultPoller(deps, settings.batch, settings.sftp.outbound_dir, client, registry)
        assert await poller.poll_once() == 2
        assert await poller.poll_once() == 0  # nothing left to claim
    finally:
        await client.close()
        await producer.stop()
    assert (outbound / "done" / response_name(good)).exists() and (outbound / "error" / bad).exists()
    assert list((outbound / "processing").iterdir()) == []
    published = values(await read_all(broker.bootstrap, f"{tag}.status"))
    assert sorted((s["eventId"], s["status"]) for s in published) == [
        ("evt-1", "SUBMITTED"),
        ("evt-2", "REJECTED"),
    ]
    assert registry.outstanding == 0
