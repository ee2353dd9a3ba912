"""A data file's rename still queued at the SFTP server when its worker stops, on the real broker and
the sandbox's SFTP server: the next owner sees ``.NAME.part``, and the old rename then lands before
the file is built again. The file reaches Flex once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from consumers.sftp.client import SftpClient
from sandbox import RunningSandbox
from sandbox.sftp_server import _Session
from streams.local.broker import EmbeddedBroker
from tests.integration.batch.path_support import (
    Running,
    log_of,
    publish_mit,
    settings_for,
    statuses,
    until_statuses,
)
from tests.support import wait_for

pytestmark = pytest.mark.integration


class HeldRename:
    """The server holds the first data-file rename until :meth:`land`; the rename then runs even
    though its client is gone, as a server's queued request does."""

    def __init__(self) -> None:
        self.held, self.release = asyncio.Event(), asyncio.Event()
        self.task: asyncio.Task[bool] | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        rename = _Session.posix_rename

        def posix_rename(session: _Session, old: bytes, new: bytes) -> Any:
            if self.task is not None or not new.endswith(b".json"):  # a manifest's, or a later one
                return rename(session, old, new)
            self.task = asyncio.ensure_future(self._later(lambda: rename(session, old, new)))
            return asyncio.shield(self.task)

        monkeypatch.setattr(_Session, "posix_rename", posix_rename)

    async def _later(self, rename: Callable[[], None]) -> bool:
        self.held.set()
        await self.release.wait()
        try:
            rename()
        except OSError:  # its source was removed meanwhile
            return False
        return True

    async def land(self) -> bool:
        """Let the held rename run; whether it renamed the file."""
        assert self.task is not None
        self.release.set()
        return await self.task


def land_before_first_write(
    client: SftpClient, held: HeldRename, taken: Callable[[], Coroutine[Any, Any, bool]]
) -> None:
    """The next owner's first upload lets the old rename land first (and Flex take its file)."""
    write = client.write_temp

    async def landed_then_write(directory: str, temp: str, data: bytes) -> None:
        if not held.release.is_set() and await held.land():
            await wait_for(taken, 10, "the sandbox to take the late-renamed file")
        await write(directory, temp, data)

    client.write_temp = landed_then_write  # type: ignore[method-assign]


async def test_a_rename_landing_after_its_worker_stopped_submits_the_file_once(
    broker: EmbeddedBroker, sftp_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sftp_sandbox.sftp is not None
    held = HeldRename()
    held.install(monkeypatch)
    settings = settings_for(broker, sftp_sandbox, max_records=4)
    orders = [f"H-{i}" for i in range(4)]
    async with Running(settings) as first:
        await first.poller.stop()
        await publish_mit(settings, orders, partition_key="H")
        await asyncio.wait_for(held.held.wait(), 30)
    # stopped: the upload was cancelled after the drain timeout, its rename still held at the server

    async def taken() -> bool:
        return bool(log_of(sftp_sandbox))

    async with Running(settings) as path:
        land_before_first_write(path.sftp.client(path.merchants[0]), held, taken)
        await until_statuses(settings, "SUBMITTED", 4)
        assert held.release.is_set()
        inbound = sftp_sandbox.sftp.server.users["merchant"].inbound

        async def sent_and_taken() -> bool:  # the next owner's upload, taken by the sandbox
            return path.consumer.uploader.files == 1 and not list(inbound.glob("*.json"))

        await wait_for(sent_and_taken, 20, "the rebuilt file to be sent and taken")
    assert held.task is not None and held.task.done()
    assert [e["records"] for e in log_of(sftp_sandbox)] == [4]  # one submission
    found = [s["orderId"] for s in await statuses(settings) if s["status"] == "SUBMITTED"]
    assert sorted(found) == orders
