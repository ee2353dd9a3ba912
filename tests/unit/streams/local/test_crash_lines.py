"""What counts as a crash inside a running worker (streams/local/procs.py ``CRASH_LINE``, read by
chaos and by the integration tests' ``Stack.close``): the lines that mode's ``Service.crash`` (a
Faust agent's) and flexbridge's supervisor write, as the worker's JSON and text formatters write
them; an error that is handled is no crash."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from mode import Service

from streams.local.procs import CRASH_LINE
from streams.runtime import supervise
from streams.runtime.logs import JsonFormatter, TextFormatter


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _Agent(Service):
    """A mode service: its log prefixes each line with its name, as a Faust agent's does."""


@pytest.fixture
def lines() -> Iterator[list[logging.LogRecord]]:
    handler = _Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)


async def test_a_crashed_agent_and_a_dead_task_are_crashes_in_json_and_text(
    lines: list[logging.LogRecord],
) -> None:
    try:
        raise RuntimeError("async generator raised StopAsyncIteration")
    except RuntimeError as exc:
        _Agent().log.exception("Crashed reason=%r", exc)  # as mode's Service.crash logs it

    async def fails() -> None:
        raise ValueError("boom")

    task = supervise.watch(asyncio.create_task(fails(), name="pipeline-fetch"))
    with pytest.raises(ValueError):  # watch's callback, added first, has logged the death by now
        await task
    logging.getLogger("aiokafka.consumer.group_coordinator").error(
        "OffsetCommit failed for group g due to group error (IllegalGenerationError), will rejoin"
    )
    crash, death, handled = lines[-3:]
    assert death.getMessage() == "task pipeline-fetch died"
    for formatter in (JsonFormatter(), TextFormatter()):
        assert CRASH_LINE.search(formatter.format(crash))
        assert CRASH_LINE.search(formatter.format(death))
        assert not CRASH_LINE.search(formatter.format(handled))
