"""A starting worker begins its bridge's group join before Faust starts (streams/runtime/launch.py),
and logs in the configured format from its first record on."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.integration


async def test_the_join_begins_before_faust_and_every_line_is_a_json_record(stack: Stack) -> None:
    worker = stack.worker(FLEXBRIDGE_LOG__FORMAT="json")
    await asyncio.to_thread(worker.process.wait_ready, worker.url + "/ready", 60)
    first, *rest = worker.process.output().splitlines()
    assert first.startswith("waiting for Kafka at ")
    messages = [orjson.loads(line)["msg"] for line in rest if line]
    approved = stack.topics["approved"]
    joining = next(i for i, m in enumerate(messages) if m.startswith("Subscribed to") and approved in m)
    faust = messages.index("[^_Worker]: Starting...")
    assert joining < faust, messages[: faust + 1]
    assert messages.count("[^--RuntimeService]: Starting...") == 1  # one handler on the root: no line twice
