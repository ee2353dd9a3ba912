"""A starting worker begins its bridge's group join before Faust starts (streams/runtime/launch.py),
and logs in the configured format from its first record on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from streams.local.broker import EmbeddedBroker
from streams.local.procs import free_port
from tests.conftest import Stack, sftp_stack

pytestmark = pytest.mark.integration


async def test_the_join_begins_before_faust_and_every_line_is_a_json_record(stack: Stack) -> None:
    worker = stack.worker(FLEXBRIDGE_LOG__FORMAT="json")
    await asyncio.to_thread(worker.process.wait_ready, worker.url + "/ready", 60)
    messages = [orjson.loads(line)["msg"] for line in worker.process.output().splitlines() if line]
    assert messages[0].startswith("FLEXBRIDGE_WEB__ADMIN_TOKEN is not set")  # the stack sets none
    assert messages[1].startswith("waiting for Kafka at ")
    approved = stack.topics["approved"]
    joining = next(i for i, m in enumerate(messages) if m.startswith("Subscribed to") and approved in m)
    faust = messages.index("[^_Worker]: Starting...")
    assert joining < faust, messages[: faust + 1]
    assert messages.count("[^--RuntimeService]: Starting...") == 1  # one handler on the root: no line twice


async def test_a_worker_going_by_sftp_writes_json_only(
    broker: EmbeddedBroker, log_dir: Path, tmp_path: Path
) -> None:
    """asyncssh's import made cryptography warn five times (DSA, FFDH deprecated) on stderr, before
    the first log record and not as JSON; those are left out, and any other warning is a record."""
    with sftp_stack(broker, log_dir, tmp_path / "sandbox-state") as stack:
        worker = stack.worker(FLEXBRIDGE_LOG__FORMAT="json", FLEXBRIDGE_ROUTING__MIT="sftp")
        await asyncio.to_thread(worker.process.wait_ready, worker.url + "/ready", 60)
        output = worker.process.output()
        records = [orjson.loads(line) for line in output.splitlines() if line]
        assert "is deprecated" not in output
        assert "asyncssh.sftp" in {r["logger"] for r in records}  # it went by SFTP: asyncssh was imported


async def test_a_worker_stopped_while_it_starts_exits_cleanly(stack: Stack) -> None:
    """A deploy may stop a worker that has not started yet: before Faust's own signal handlers, a
    SIGTERM stops it cleanly (exit code 0), not by the signal's default (killed, -15)."""
    nobody = f"127.0.0.1:{free_port()}"  # no broker there: the worker waits for one
    worker = stack.worker(
        FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS=nobody, FLEXBRIDGE_KAFKA__STARTUP_TIMEOUT_SECONDS="60"
    )
    await asyncio.to_thread(worker.process.wait_line, r"waiting for Kafka at ", 30)
    code = await asyncio.to_thread(worker.process.stop)
    assert code == 0, worker.process.output()[-2000:]
    assert "stopped by a signal before the worker had started" in worker.process.output()
