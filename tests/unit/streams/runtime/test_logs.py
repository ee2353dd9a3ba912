"""The log formatters: JSON lines with the bound record fields, card numbers masked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import SimpleNamespace

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from streams.runtime.logs import (
    JsonFormatter,
    RebalancedCommit,
    TextFormatter,
    bind,
    install,
    log_task_running,
    log_tasks,
)


def _record(msg: str) -> logging.LogRecord:
    return logging.LogRecord("streams.runtime.bridge", logging.WARNING, __file__, 1, msg, None, None)


async def test_each_task_logs_its_own_record_fields_and_no_card_number() -> None:
    async def one(order: str) -> dict[str, object]:
        bind(orderId=order, partition=1)
        bind(eventId=f"evt-{order}")
        await asyncio.sleep(0)
        line: dict[str, object] = orjson.loads(JsonFormatter().format(_record("card 4111111111111111 seen")))
        return line

    a, b = await asyncio.gather(asyncio.create_task(one("A")), asyncio.create_task(one("B")))
    assert (a["orderId"], a["eventId"], b["orderId"], b["eventId"]) == ("A", "evt-A", "B", "evt-B")
    assert a["level"] == "warning" and a["partition"] == 1
    assert a["msg"] == "card ************1111 seen"
    text = TextFormatter().format(_record("pan 4111 1111 1111 1111"))
    assert "4111 1111 1111 1111" not in text and "1111" in text


async def test_the_task_dump_names_where_each_task_waits(caplog: pytest.LogCaptureFixture) -> None:
    gate = asyncio.Event()

    async def parked_on_the_gate() -> None:
        await gate.wait()

    task = asyncio.create_task(parked_on_the_gate(), name="parked")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="streams.runtime.logs"):
        log_tasks()
    gate.set()
    await task
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("task parked ")]
    assert "parked_on_the_gate" in line and "wait" in line.split(">")[-1]


async def test_where_a_function_s_task_waits_or_that_none_runs_it(caplog: pytest.LogCaptureFixture) -> None:
    gate = asyncio.Event()

    async def parked_on_the_gate() -> None:
        await gate.wait()

    task = asyncio.create_task(parked_on_the_gate())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="streams.runtime.logs"):
        log_task_running("parked_on_the_gate")
        log_task_running("_restart_recovery")
    gate.set()
    await task
    waits, none = (r.getMessage() for r in caplog.records)
    assert waits.startswith("parked_on_the_gate waits in ") and waits.endswith(" wait")
    assert none == "no task runs _restart_recovery"


async def _commit_answered(error_code: int) -> None:
    """aiokafka's own commit handling (``GroupCoordinator._do_commit_offsets``) of an OffsetCommit
    answered ``error_code`` for one partition; the error it raises is swallowed."""

    async def answer(_request: object) -> SimpleNamespace:
        return SimpleNamespace(topics=[("payments.declined", [(0, error_code)])])

    coordinator = SimpleNamespace(
        group_id="flexbridge",
        generation=7,
        member_id="m-1",
        coordinator_id=0,
        _send_req=answer,
        reset_generation=lambda: None,
        request_rejoin=lambda: None,
        coordinator_dead=lambda: None,
    )
    offsets = {TopicPartition("payments.declined", 0): OffsetAndMetadata(10, "")}
    with contextlib.suppress(KafkaError):
        await GroupCoordinator._do_commit_offsets(coordinator, None, offsets)


@pytest.mark.parametrize(("error", "code"), [("IllegalGenerationError", 22), ("UnknownMemberIdError", 25)])
async def test_a_commit_refused_by_a_rebalance_is_a_warning(
    caplog: pytest.LogCaptureFixture, error: str, code: int
) -> None:
    install("json", logging.getLogger("flexbridge-test-root"))
    with caplog.at_level(logging.INFO, logger=RebalancedCommit.LOGGER):
        await _commit_answered(code)
    [record] = [r for r in caplog.records if r.name == RebalancedCommit.LOGGER]
    assert "will rejoin" in record.getMessage() and error in record.getMessage()
    assert (record.levelno, record.levelname) == (logging.WARNING, "WARNING")
    assert orjson.loads(JsonFormatter().format(record))["level"] == "warning"


async def test_other_commit_errors_of_aiokafka_stay_errors(caplog: pytest.LogCaptureFixture) -> None:
    install("json", logging.getLogger("flexbridge-test-root"))
    with caplog.at_level(logging.INFO, logger=RebalancedCommit.LOGGER):
        await _commit_answered(3)  # UnknownTopicOrPartitionError
    [record] = [r for r in caplog.records if r.name == RebalancedCommit.LOGGER]
    assert record.levelno == logging.ERROR
    assert len(logging.getLogger(RebalancedCommit.LOGGER).filters) == 1  # installed once, however often
