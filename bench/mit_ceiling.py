"""The MIT batch ceiling: a bare loop that reads the topic, writes the raw records into files of
2,000 and uploads them with asyncssh to OpenSSH's ``sftp-server`` (bench/sshd.py), as the batch path
does (a temporary name renamed into place, two uploads at a time), with none of its per-record work.

Also the SFTP settings that point the batch path at the same server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncssh
from aiokafka import AIOKafkaConsumer

from bench.sshd import OpenSsh

__all__ = ["FILE_RECORDS", "UPLOADS", "Loop", "ceiling_loop", "openssh_env", "split_files"]

FILE_RECORDS = 2000  # records per file, as FLEXBRIDGE_BATCH__MAX_RECORDS in the batch runs
UPLOADS = 2  # uploads at a time, as the batch path's default FLEXBRIDGE_BATCH__UPLOAD_CONCURRENCY


class Loop:
    """What a bare loop measured: events/s and its CPU time per record (µs)."""

    def __init__(self, count: int, seconds: float, cpu_seconds: float) -> None:
        self.rate = count / seconds if seconds > 0 else float("nan")
        self.cpu_us = cpu_seconds / count * 1e6 if count else float("nan")


def split_files(buffer: list[bytes], size: int, final: bool) -> tuple[list[bytes], list[bytes]]:
    """The whole files of ``size`` records in ``buffer`` (and the rest too if ``final``), each the
    records joined by newlines; and the records left over."""
    cut = len(buffer) if final else len(buffer) - len(buffer) % size
    files = [b"\n".join(buffer[i : i + size]) + b"\n" for i in range(0, cut, size)]
    return files, buffer[cut:]


def openssh_env(server: OpenSsh, root: Path) -> dict[str, str]:
    """``FLEXBRIDGE_`` settings of an SFTP batch path uploading to ``server`` under ``root``."""
    for sub in ("inbound", "outbound"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return {
        "FLEXBRIDGE_SFTP__HOST": "127.0.0.1",
        "FLEXBRIDGE_SFTP__PORT": str(server.port),
        "FLEXBRIDGE_SFTP__USERNAME": server.user,
        "FLEXBRIDGE_SFTP__KEY_PATH": str(server.client_key),
        "FLEXBRIDGE_SFTP__KNOWN_HOSTS": str(server.known_hosts),
        "FLEXBRIDGE_SFTP__INBOUND_DIR": str(root / "inbound"),
        "FLEXBRIDGE_SFTP__OUTBOUND_DIR": str(root / "outbound"),
        "FLEXBRIDGE_BATCH__MAX_AGE_SECONDS": "1",  # as the local stack sets them for the sandbox
        "FLEXBRIDGE_BATCH__POLL_INTERVAL_SECONDS": "0.5",
        "FLEXBRIDGE_BATCH__MIN_AGE_SECONDS": "0.2",
    }


async def _upload(sftp: asyncssh.SFTPClient, directory: str, name: str, data: bytes) -> None:
    temp = f"{directory}/.{name}.part"
    async with sftp.open(temp, "wb") as handle:
        await handle.write(data)
    await sftp.posix_rename(temp, f"{directory}/{name}")


async def _read_and_upload(
    consumer: AIOKafkaConsumer, sftp: asyncssh.SFTPClient, directory: str, count: int
) -> None:
    slots = asyncio.Semaphore(UPLOADS)
    uploads: list[asyncio.Task[None]] = []

    async def upload(name: str, data: bytes) -> None:
        async with slots:
            await _upload(sftp, directory, name, data)

    buffer: list[bytes] = []
    seen = 0
    while seen < count:
        for records in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
            buffer += [r.value or b"" for r in records]
            seen += len(records)
        files, buffer = split_files(buffer, FILE_RECORDS, final=seen >= count)
        for data in files:
            uploads.append(asyncio.create_task(upload(f"ceiling-{len(uploads):05d}.csv", data)))
    await asyncio.gather(*uploads)


async def ceiling_loop(bootstrap: str, topic: str, count: int, server: OpenSsh, directory: Path) -> Loop:
    """Read ``count`` records from the start of ``topic`` into files uploaded to ``directory``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    connection = await asyncssh.connect(
        "127.0.0.1",
        server.port,
        username=server.user,
        client_keys=[str(server.client_key)],
        known_hosts=str(server.known_hosts),
    )
    await consumer.start()
    try:
        async with connection.start_sftp_client() as sftp:
            await sftp.makedirs(str(directory), exist_ok=True)
            started, cpu = time.monotonic(), time.process_time()
            await _read_and_upload(consumer, sftp, str(directory), count)
            return Loop(count, time.monotonic() - started, time.process_time() - cpu)
    finally:
        await consumer.stop()
        connection.close()
        await connection.wait_closed()
