"""A response file missing rows answers only the rows it has: a later file of the same name is
read and only its new rows published, and ``done/`` keeps both files."""

from __future__ import annotations

import logging

import pytest

from consumers.order_machine import is_legal
from tests.unit.streams.runtime.poller_support import RESPONSE, history, response, setup

ALL = [(i, f"O-{i}") for i in range(1, 7)]


@pytest.mark.parametrize("first", [0, 3])
async def test_a_partial_response_then_the_complete_one_publishes_every_row_once(
    first: int, caplog: pytest.LogCaptureFixture
) -> None:
    clock, sftp, registry, _, polling = setup(6)
    sftp.put(RESPONSE, response(ALL[:first]))
    clock.now = 1010.0
    with caplog.at_level(logging.WARNING):
        await polling.round()
    assert history(polling) == [(o, "SUBMITTED", f"evt-{s}") for s, o in ALL[:first]]
    assert (
        f"has {first} rows: of 6 records awaiting a result, {first} answered, {6 - first} not" in caplog.text
    )
    assert registry.outstanding == 6 - first
    sftp.put(RESPONSE, response(ALL))  # Flex writes the whole file again, same name
    clock.now = 1020.0
    await polling.round()
    assert history(polling) == [(o, "SUBMITTED", f"evt-{s}") for s, o in ALL]  # each once
    done = sftp.under("done")
    assert sorted(done) == [RESPONSE, f"{RESPONSE}.1"]  # the first file is kept as evidence
    assert done[RESPONSE] == response(ALL[:first]) and done[f"{RESPONSE}.1"] == response(ALL)
    clock.now = 2000.0
    await polling.round()
    assert polling.missing == 0 and [s for s in polling.sent if s.status == "FAILED"] == []


async def test_the_same_complete_response_read_again_publishes_nothing_more() -> None:
    clock, sftp, _, _, polling = setup(2)
    for now in (1010.0, 1020.0):
        sftp.put(RESPONSE, response([(1, "O-1"), (2, "O-2")]))
        clock.now = now
        await polling.round()
    assert history(polling) == [("O-1", "SUBMITTED", "evt-1"), ("O-2", "SUBMITTED", "evt-2")]


async def test_a_partial_response_leaves_the_rest_to_the_timeout() -> None:
    clock, sftp, _, _, polling = setup(2)
    sftp.put(RESPONSE, response([(1, "O-1")]))
    clock.now = 1010.0
    await polling.round()
    clock.now = 1100.0
    await polling.round()
    assert [(s.order_id, s.status) for s in polling.sent] == [("O-1", "SUBMITTED"), ("O-2", "FAILED")]


async def test_a_row_read_after_its_record_failed_is_published_under_the_records_event_id() -> None:
    clock, sftp, _, _, polling = setup(1)
    clock.now = 1070.0
    await polling.round()
    sftp.put(RESPONSE, response([(1, "O-1")]))
    clock.now = 1080.0
    await polling.round()
    assert history(polling) == [("O-1", "FAILED", "evt-1"), ("O-1", "SUBMITTED", "evt-1")]
    assert is_legal("FAILED", "SUBMITTED")  # for every reader of orders.status
